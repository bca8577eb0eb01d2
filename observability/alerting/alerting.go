// Package alerting turns the receivers set in the stack's secret config
// object sre-lab:alertmanager into the Alertmanager configuration that
// kube-prometheus-stack takes as its alertmanager.config value.
//
// The routing tree is fixed on purpose: what varies between stacks is where
// alerts go, not how they are grouped or which severities page. Critical
// alerts go to every receiver, PagerDuty included; warnings go to every
// receiver except PagerDuty, so that only critical alerts wake someone up.
//
// Validate checks the receivers before anything is rendered, so a typo in the
// stack config fails `pulumi preview` with the key at fault rather than
// leaving Alertmanager's config-reloader rejecting the generated secret inside
// the cluster, where nobody looks until an alert goes missing.
package alerting

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ConfigKey is the stack config key the receivers are read from. It prefixes
// every path in Validate's errors so that each one names the key to fix.
const ConfigKey = "sre-lab:alertmanager"

// NullReceiver is the receiver without any integration: alerts routed to it
// are dropped. It is always rendered, because the heartbeat routes need it
// whatever else is configured, and so no configured receiver may take its
// name.
const NullReceiver = "null"

// Receivers is the value of the secret stack config object
// sre-lab:alertmanager: the places alerts are sent to. Every receiver has a
// name that is unique across all kinds, because Alertmanager has one
// namespace for receiver names.
type Receivers struct {
	// Slack lists Slack incoming webhooks.
	Slack []Slack `json:"slack,omitempty"`
	// Webhooks lists generic HTTP endpoints that take Alertmanager's webhook
	// payload.
	Webhooks []Webhook `json:"webhooks,omitempty"`
	// PagerDuty lists PagerDuty services; they only receive critical alerts.
	PagerDuty []PagerDuty `json:"pagerDuty,omitempty"`
	// Email lists mailboxes, reached through an SMTP relay.
	Email []Email `json:"email,omitempty"`
}

// Slack is a Slack incoming webhook.
type Slack struct {
	// Name is the receiver's name.
	Name string `json:"name"`
	// APIURL is the incoming webhook URL. It is a secret: whoever has it can
	// post to the channel.
	APIURL string `json:"apiUrl"`
	// Channel overrides the webhook's default channel ("#alerts") or sends
	// to a user ("@oncall"); empty keeps the webhook's default.
	Channel string `json:"channel,omitempty"`
}

// Webhook is a generic HTTP endpoint that receives Alertmanager's webhook
// payload as a POST.
type Webhook struct {
	// Name is the receiver's name.
	Name string `json:"name"`
	// URL is the endpoint: https, or http only to a cluster-internal
	// service (*.svc, *.cluster.local). It is treated as a secret: such
	// URLs often carry a token.
	URL string `json:"url"`
}

// PagerDuty is a PagerDuty service reached through the Events API v2.
type PagerDuty struct {
	// Name is the receiver's name.
	Name string `json:"name"`
	// RoutingKey is the service's Events API v2 integration key. It is a
	// secret: whoever has it can open incidents.
	RoutingKey string `json:"routingKey"`
}

// Email is a mailbox reached through an SMTP relay.
type Email struct {
	// Name is the receiver's name.
	Name string `json:"name"`
	// To is the recipient, or several separated by commas.
	To string `json:"to"`
	// From is the sender address.
	From string `json:"from"`
	// Smarthost is the relay as host:port.
	Smarthost string `json:"smarthost"`
	// AuthUsername is the SMTP login; empty sends without authenticating.
	AuthUsername string `json:"authUsername,omitempty"`
	// AuthPassword is the SMTP password, set together with AuthUsername. It
	// is a secret.
	AuthPassword string `json:"authPassword,omitempty"`
}

var (
	// receiverName keeps names to what reads well in Alertmanager's UI and
	// in a receiver label, and stays clear of YAML and matcher quoting.
	receiverName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// routingKey is the shape of an Events API v2 integration key.
	// Checking it catches the common mistake of pasting a REST API token or
	// an Events API v1 service key, which PagerDuty rejects only when the
	// first critical alert is sent.
	routingKey = regexp.MustCompile(`^[a-z0-9]{32}$`)
	// slackChannel is a channel or user reference; Slack names have no
	// white space.
	slackChannel = regexp.MustCompile(`^[#@][^\s#@]+$`)
)

// fieldError is one invalid value, worded like the errors of the config
// package: the full key, the value, and what is allowed.
type fieldError struct {
	path    string
	value   string
	secret  bool
	allowed string
}

func (e *fieldError) Error() string {
	value := strconv.Quote(e.value)
	// Validate's errors end up in `pulumi up` output and CI logs, so a
	// secret is never echoed. An empty value gives nothing away and saying
	// so tells the user the key is missing rather than wrong.
	if e.secret && e.value != "" {
		value = "(secret)"
	}
	return fmt.Sprintf("%s = %s: %s", e.path, value, e.allowed)
}

// validator collects every problem so that one run reports them all.
type validator struct {
	errs []error
	// names maps each receiver name seen so far to the path that set it, so
	// that a duplicate says where the first one is.
	names map[string]string
}

func (v *validator) add(path, value string, secret bool, allowed string, args ...any) {
	v.errs = append(v.errs, &fieldError{path: path, value: value, secret: secret, allowed: fmt.Sprintf(allowed, args...)})
}

func fieldPath(kind string, i int, field string) string {
	return fmt.Sprintf("%s.%s[%d].%s", ConfigKey, kind, i, field)
}

func (v *validator) name(kind string, i int, name string) {
	path := fieldPath(kind, i, "name")
	switch {
	case !receiverName.MatchString(name):
		v.add(path, name, false, "must be a lowercase DNS label: a-z, 0-9 and '-', at most 63 characters")
	case name == NullReceiver:
		v.add(path, name, false, "is reserved for the receiver that drops alerts; choose another name")
	case v.names[name] != "":
		v.add(path, name, false, "must be unique across all receivers; already used by %s", v.names[name])
	default:
		v.names[name] = path
	}
}

// httpURL reports whether s is an absolute URL with one of the schemes and
// a host, which is what Alertmanager needs to send a request.
func httpURL(s string, schemes ...string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return false
	}
	for _, scheme := range schemes {
		if u.Scheme == scheme {
			return true
		}
	}
	return false
}

// clusterInternal reports whether the URL s names a Service inside the
// cluster (name.namespace.svc, or the same under cluster.local): only
// cluster DNS resolves those, so the request never leaves the cluster.
func clusterInternal(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	for _, suffix := range []string{".svc", ".cluster.local"} {
		if name, ok := strings.CutSuffix(host, suffix); ok && name != "" {
			return true
		}
	}
	return false
}

// smarthost reports whether s is host:port with a usable port.
func smarthost(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || strings.ContainsAny(host, " \t") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// Validate reports every receiver setting that Alertmanager would reject or
// that would fail only when an alert is sent, each error naming its key
// (sre-lab:alertmanager.slack[0].apiUrl), its value, and what is allowed.
// Secret values (apiUrl, url, routingKey, authPassword) are shown as
// "(secret)".
// The errors are joined with errors.Join.
func (r Receivers) Validate() error {
	v := &validator{names: map[string]string{}}
	for i, s := range r.Slack {
		v.name("slack", i, s.Name)
		if !httpURL(s.APIURL, "https") {
			v.add(fieldPath("slack", i, "apiUrl"), s.APIURL, true,
				"must be an https URL, such as the incoming webhook URL https://hooks.slack.com/services/...")
		}
		if s.Channel != "" && !slackChannel.MatchString(s.Channel) {
			v.add(fieldPath("slack", i, "channel"), s.Channel, false,
				"must start with '#' for a channel or '@' for a user, without spaces, or be left unset for the webhook's default channel")
		}
	}
	for i, w := range r.Webhooks {
		v.name("webhooks", i, w.Name)
		// Webhook URLs often carry a token in the path or query, so the
		// value is never shown.
		switch {
		case !httpURL(w.URL, "http", "https"):
			v.add(fieldPath("webhooks", i, "url"), w.URL, true, "must be an http or https URL such as https://hooks.example.com/alertmanager")
		case !httpURL(w.URL, "https") && !clusterInternal(w.URL):
			v.add(fieldPath("webhooks", i, "url"), w.URL, true,
				"must be https outside the cluster: over http the alerts, and any token in the URL, cross the network in clear text; http is accepted only for a cluster-internal service (*.svc, *.cluster.local)")
		}
	}
	for i, p := range r.PagerDuty {
		v.name("pagerDuty", i, p.Name)
		if !routingKey.MatchString(p.RoutingKey) {
			v.add(fieldPath("pagerDuty", i, "routingKey"), p.RoutingKey, true,
				"must be an Events API v2 integration key: 32 characters a-z and 0-9")
		}
	}
	for i, e := range r.Email {
		v.name("email", i, e.Name)
		if _, err := mail.ParseAddressList(e.To); err != nil {
			v.add(fieldPath("email", i, "to"), e.To, false, "must be one or more email addresses separated by commas, such as oncall@example.com")
		}
		if _, err := mail.ParseAddress(e.From); err != nil {
			v.add(fieldPath("email", i, "from"), e.From, false, "must be one email address, such as alertmanager@example.com")
		}
		if !smarthost(e.Smarthost) {
			v.add(fieldPath("email", i, "smarthost"), e.Smarthost, false, "must be host:port with a port from 1 to 65535, such as smtp.example.com:587")
		}
		// Alertmanager skips SMTP authentication when the username is
		// empty, so a password alone would be silently ignored and the
		// relay would refuse the mail; a username alone would log in with
		// an empty password.
		switch {
		case e.AuthPassword != "" && e.AuthUsername == "":
			v.add(fieldPath("email", i, "authUsername"), e.AuthUsername, false, "must be set when authPassword is set")
		case e.AuthUsername != "" && e.AuthPassword == "":
			v.add(fieldPath("email", i, "authPassword"), e.AuthPassword, true, "must be set when authUsername is set")
		}
	}
	return errors.Join(v.errs...)
}

// Route timing. Grouping by alertname, namespace and severity keeps one
// failing namespace from drowning the others and keeps a critical alert
// from waiting in a group of warnings. Four hours between repeats is often
// enough that an unresolved alert is not forgotten, and rare enough that it
// is not muted out of annoyance.
const (
	groupWait      = "30s"
	groupInterval  = "5m"
	repeatInterval = "4h"
)

// Label matchers, in Alertmanager's matchers syntax, which replaced the
// deprecated match and match_re maps.
const (
	matchCritical      = `severity="critical"`
	matchWarning       = `severity="warning"`
	matchWatchdog      = `alertname="Watchdog"`
	matchInfoInhibitor = `alertname="InfoInhibitor"`
)

// Slack message templates. They are kept to fields every alert of
// kube-prometheus-stack and of the rules package carries, so a message never
// renders as "<no value>". kube-prometheus-stack passes alertmanager.config
// through tpl only when alertmanager.tplConfig is set, which this project
// leaves off, so the braces reach Alertmanager untouched.
const (
	slackTitle = `[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] ` +
		`{{ .CommonLabels.alertname }}{{ with .CommonLabels.namespace }} in {{ . }}{{ end }}`
	slackText = `{{ range .Alerts }}*{{ .Labels.severity }}*: {{ or .Annotations.summary .Annotations.description .Annotations.message }}` +
		`{{ with .Annotations.runbook_url }} <{{ . }}|runbook>{{ end }}` + "\n{{ end }}"
)

// receiver is one rendered receiver with whether it may page, which decides
// whether warnings are routed to it.
type receiver struct {
	name  string
	pages bool
	value map[string]any
}

// receivers renders r in a fixed order: Slack, webhooks, email, then
// PagerDuty, so that the first entry that does not page is the default.
func receivers(r Receivers) []receiver {
	var out []receiver
	for _, s := range r.Slack {
		cfg := map[string]any{
			"api_url":       s.APIURL,
			"send_resolved": true,
			"title":         slackTitle,
			"text":          slackText,
		}
		if s.Channel != "" {
			cfg["channel"] = s.Channel
		}
		out = append(out, receiver{name: s.Name, value: map[string]any{
			"name":          s.Name,
			"slack_configs": []any{cfg},
		}})
	}
	for _, w := range r.Webhooks {
		out = append(out, receiver{name: w.Name, value: map[string]any{
			"name": w.Name,
			"webhook_configs": []any{map[string]any{
				"url":           w.URL,
				"send_resolved": true,
			}},
		}})
	}
	for _, e := range r.Email {
		cfg := map[string]any{
			"to":        e.To,
			"from":      e.From,
			"smarthost": e.Smarthost,
			// The relay must offer STARTTLS (or implicit TLS on port 465),
			// so the password and the alert contents never cross the
			// network in clear text.
			"require_tls": true,
		}
		if e.AuthUsername != "" {
			cfg["auth_username"] = e.AuthUsername
			cfg["auth_password"] = e.AuthPassword
		}
		out = append(out, receiver{name: e.Name, value: map[string]any{
			"name":          e.Name,
			"email_configs": []any{cfg},
		}})
	}
	for _, p := range r.PagerDuty {
		out = append(out, receiver{name: p.Name, pages: true, value: map[string]any{
			"name": p.Name,
			"pagerduty_configs": []any{map[string]any{
				"routing_key": p.RoutingKey,
				// Resolving the incident when the alert clears spares the
				// on-call engineer closing it by hand.
				"send_resolved": true,
			}},
		}})
	}
	return out
}

// fanOut routes alerts matching matcher to each receiver in turn. Every
// route but the last has continue set, so that an alert matching one goes
// on to the next instead of stopping at the first receiver.
func fanOut(matcher string, to []string) []any {
	var routes []any
	for i, name := range to {
		route := map[string]any{
			"receiver": name,
			"matchers": []any{matcher},
		}
		if i < len(to)-1 {
			route["continue"] = true
		}
		routes = append(routes, route)
	}
	return routes
}

// Config validates r and returns the Alertmanager configuration as plain
// maps and slices, ready to be set as kube-prometheus-stack's
// alertmanager.config value.
//
// The root route sends to the first configured receiver that does not page
// (Slack, then webhooks, then email), or to "null" when there is none.
// PagerDuty is never the default: alerts that reach the root are the ones
// no child route took, such as info alerts or alerts without a severity,
// and warnings fall through to the root when every receiver is PagerDuty,
// so making it the default would page for exactly what should not.
//
// Helm merges these maps into the chart's default alertmanager.config and
// replaces its lists, so the chart's route, receivers and inhibit rules are
// fully replaced while its global section (resolve_timeout, Alertmanager's
// own default) and its templates entry are kept.
func Config(r Receivers) (map[string]any, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	rendered := receivers(r)

	root := NullReceiver
	var all, nonPaging []string
	receiverList := []any{map[string]any{"name": NullReceiver}}
	for _, rc := range rendered {
		all = append(all, rc.name)
		if !rc.pages {
			if len(nonPaging) == 0 {
				root = rc.name
			}
			nonPaging = append(nonPaging, rc.name)
		}
		receiverList = append(receiverList, rc.value)
	}

	routes := []any{
		// Watchdog fires all the time to prove the alerting pipeline
		// works. Routing it to "null" only keeps the heartbeat from
		// notifying anyone; a real dead man's switch, an outside service
		// that alerts when Watchdog stops arriving, is out of scope here.
		map[string]any{"receiver": NullReceiver, "matchers": []any{matchWatchdog}},
		// InfoInhibitor fires while a namespace has info alerts, only so
		// that the inhibit rule below can mute them; it is not news itself
		// and has severity "none", so without this route it would reach
		// the default receiver.
		map[string]any{"receiver": NullReceiver, "matchers": []any{matchInfoInhibitor}},
	}
	routes = append(routes, fanOut(matchCritical, all)...)
	routes = append(routes, fanOut(matchWarning, nonPaging)...)

	return map[string]any{
		"route": map[string]any{
			"receiver":        root,
			"group_by":        []any{"alertname", "namespace", "severity"},
			"group_wait":      groupWait,
			"group_interval":  groupInterval,
			"repeat_interval": repeatInterval,
			"routes":          routes,
		},
		"inhibit_rules": []any{
			// While a critical alert fires, the warnings and info alerts
			// of the same problem in the same namespace are noise.
			map[string]any{
				"source_matchers": []any{matchCritical},
				"target_matchers": []any{`severity=~"warning|info"`},
				"equal":           []any{"alertname", "namespace"},
			},
			// kube-prometheus-stack's InfoInhibitor mutes info alerts of a
			// namespace unless a warning or critical alert fires there too,
			// because info alerts alone are rarely worth a notification.
			map[string]any{
				"source_matchers": []any{matchInfoInhibitor},
				"target_matchers": []any{`severity="info"`},
				"equal":           []any{"namespace"},
			},
		},
		"receivers": receiverList,
	}, nil
}

// YAML returns Config(r) as an Alertmanager configuration file, the form
// Alertmanager itself loads, for tests and for inspecting what a stack
// would deploy.
func YAML(r Receivers) (string, error) {
	cfg, err := Config(r)
	if err != nil {
		return "", err
	}
	// Two-space indentation, as in Helm values and Alertmanager's docs,
	// so the output can be pasted next to them.
	var out strings.Builder
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return "", fmt.Errorf("marshalling the Alertmanager configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("marshalling the Alertmanager configuration: %w", err)
	}
	return out.String(), nil
}
