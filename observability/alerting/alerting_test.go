package alerting

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// Secret values of the fixtures. Each is distinctive so that finding it in
// a message or in the wrong place of the rendered config cannot be a
// coincidence.
const (
	slackURL     = "https://hooks.slack.com/services/T0LAB/B0LAB/sl4ckS3cretT0ken"
	pagerKey     = "0123456789abcdef0123456789abcdef"
	smtpPassword = "smtp-Pa55word-s3cret"
)

// everyKind has one valid receiver of each kind.
func everyKind() Receivers {
	return Receivers{
		Slack:     []Slack{{Name: "ops-slack", APIURL: slackURL, Channel: "#alerts"}},
		Webhooks:  []Webhook{{Name: "ops-hook", URL: "https://hooks.example.com/alertmanager"}},
		PagerDuty: []PagerDuty{{Name: "ops-pager", RoutingKey: pagerKey}},
		Email: []Email{{
			Name: "ops-mail", To: "oncall@example.com", From: "alertmanager@example.com",
			Smarthost: "smtp.example.com:587", AuthUsername: "alertmanager", AuthPassword: smtpPassword,
		}},
	}
}

// load renders r and loads it with Alertmanager's own config loader.
func load(t *testing.T, r Receivers) *config.Config {
	t.Helper()
	out, err := YAML(r)
	require.NoError(t, err)
	cfg, err := config.Load(out)
	require.NoError(t, err, "Alertmanager rejects the rendered config:\n%s", out)
	return cfg
}

// receiversFor is the receivers Alertmanager's dispatcher sends an alert
// with these labels to.
func receiversFor(cfg *config.Config, labels model.LabelSet) []string {
	var names []string
	for _, route := range dispatch.NewRoute(cfg.Route, nil).Match(labels) {
		names = append(names, route.RouteOpts.Receiver)
	}
	return names
}

func alert(name, severity string) model.LabelSet {
	return model.LabelSet{"alertname": model.LabelValue(name), "namespace": "apps", "severity": model.LabelValue(severity)}
}

func TestYAMLLoadsInAlertmanager(t *testing.T) {
	tests := []struct {
		name      string
		receivers Receivers
		// wantReceivers is every receiver name in the loaded config.
		wantReceivers []string
		wantRoot      string
		wantCritical  []string
		wantWarning   []string
	}{
		{
			name:          "none",
			wantReceivers: []string{"null"},
			wantRoot:      "null",
			wantCritical:  []string{"null"},
			wantWarning:   []string{"null"},
		},
		{
			name:          "one slack",
			receivers:     Receivers{Slack: []Slack{{Name: "team", APIURL: slackURL}}},
			wantReceivers: []string{"null", "team"},
			wantRoot:      "team",
			wantCritical:  []string{"team"},
			wantWarning:   []string{"team"},
		},
		{
			name:          "slack webhook pagerduty email",
			receivers:     everyKind(),
			wantReceivers: []string{"null", "ops-slack", "ops-hook", "ops-mail", "ops-pager"},
			wantRoot:      "ops-slack",
			wantCritical:  []string{"ops-slack", "ops-hook", "ops-mail", "ops-pager"},
			wantWarning:   []string{"ops-slack", "ops-hook", "ops-mail"},
		},
		{
			// PagerDuty comes before email in Receivers but must not be
			// the default receiver, or info alerts would page.
			name: "pagerduty and email",
			receivers: Receivers{
				PagerDuty: []PagerDuty{{Name: "pager", RoutingKey: pagerKey}},
				Email:     []Email{{Name: "mail", To: "oncall@example.com", From: "am@example.com", Smarthost: "smtp.example.com:465"}},
			},
			wantReceivers: []string{"null", "mail", "pager"},
			wantRoot:      "mail",
			wantCritical:  []string{"mail", "pager"},
			wantWarning:   []string{"mail"},
		},
		{
			// With PagerDuty alone, warnings fall through to the root,
			// which therefore stays "null" so that warnings never page.
			name:          "pagerduty only",
			receivers:     Receivers{PagerDuty: []PagerDuty{{Name: "pager", RoutingKey: pagerKey}}},
			wantReceivers: []string{"null", "pager"},
			wantRoot:      "null",
			wantCritical:  []string{"pager"},
			wantWarning:   []string{"null"},
		},
		{
			name: "two of a kind",
			receivers: Receivers{Slack: []Slack{
				{Name: "team-a", APIURL: slackURL},
				{Name: "team-b", APIURL: "https://chat.example.com/hooks/b", Channel: "@oncall"},
			}},
			wantReceivers: []string{"null", "team-a", "team-b"},
			wantRoot:      "team-a",
			wantCritical:  []string{"team-a", "team-b"},
			wantWarning:   []string{"team-a", "team-b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := load(t, tt.receivers)

			var names []string
			for _, rc := range cfg.Receivers {
				names = append(names, rc.Name)
			}
			assert.Equal(t, tt.wantReceivers, names)

			root := cfg.Route
			assert.Equal(t, tt.wantRoot, root.Receiver)
			assert.Equal(t, []string{"alertname", "namespace", "severity"}, root.GroupByStr)
			// Alertmanager's defaults equal some of these values, so the
			// pointers prove they are set rather than defaulted.
			require.NotNil(t, root.GroupWait)
			require.NotNil(t, root.GroupInterval)
			require.NotNil(t, root.RepeatInterval)
			assert.Equal(t, model.Duration(30*time.Second), *root.GroupWait)
			assert.Equal(t, model.Duration(5*time.Minute), *root.GroupInterval)
			assert.Equal(t, model.Duration(4*time.Hour), *root.RepeatInterval)

			require.NotEmpty(t, root.Routes)
			watchdog := root.Routes[0]
			assert.Equal(t, "null", watchdog.Receiver)
			require.Len(t, watchdog.Matchers, 1)
			assert.Equal(t, `alertname="Watchdog"`, watchdog.Matchers[0].String())
			assert.False(t, watchdog.Continue, "Watchdog must stop at null")
			for _, route := range root.Routes {
				assert.Empty(t, route.Match, "deprecated match used")
				assert.Empty(t, route.MatchRE, "deprecated match_re used")
			}

			assert.Equal(t, []string{"null"}, receiversFor(cfg, alert("Watchdog", "none")))
			assert.Equal(t, []string{"null"}, receiversFor(cfg, alert("InfoInhibitor", "none")))
			assert.Equal(t, tt.wantCritical, receiversFor(cfg, alert("KubeNodeNotReady", "critical")))
			assert.Equal(t, tt.wantWarning, receiversFor(cfg, alert("KubePodCrashLooping", "warning")))
			assert.Equal(t, []string{tt.wantRoot}, receiversFor(cfg, alert("CPUThrottlingHigh", "info")))

			assertInhibitRules(t, cfg)
		})
	}
}

// assertInhibitRules checks the inhibit rules by what they match, the way
// Alertmanager's inhibitor evaluates them.
func assertInhibitRules(t *testing.T, cfg *config.Config) {
	t.Helper()
	require.Len(t, cfg.InhibitRules, 2)
	for _, rule := range cfg.InhibitRules {
		assert.Empty(t, rule.SourceMatch, "deprecated source_match used")
		assert.Empty(t, rule.TargetMatch, "deprecated target_match used")
		assert.Empty(t, rule.SourceMatchRE, "deprecated source_match_re used")
		assert.Empty(t, rule.TargetMatchRE, "deprecated target_match_re used")
	}
	critical := cfg.InhibitRules[0]
	assert.True(t, labels.Matchers(critical.SourceMatchers).Matches(alert("X", "critical")))
	assert.False(t, labels.Matchers(critical.SourceMatchers).Matches(alert("X", "warning")))
	assert.True(t, labels.Matchers(critical.TargetMatchers).Matches(alert("X", "warning")))
	assert.True(t, labels.Matchers(critical.TargetMatchers).Matches(alert("X", "info")))
	assert.False(t, labels.Matchers(critical.TargetMatchers).Matches(alert("X", "critical")))
	assert.Equal(t, []string{"alertname", "namespace"}, critical.Equal)

	info := cfg.InhibitRules[1]
	assert.True(t, labels.Matchers(info.SourceMatchers).Matches(alert("InfoInhibitor", "none")))
	assert.False(t, labels.Matchers(info.SourceMatchers).Matches(alert("X", "critical")))
	assert.True(t, labels.Matchers(info.TargetMatchers).Matches(alert("X", "info")))
	assert.False(t, labels.Matchers(info.TargetMatchers).Matches(alert("X", "warning")))
	assert.Equal(t, []string{"namespace"}, info.Equal)
}

func TestReceiverSettings(t *testing.T) {
	cfg := load(t, everyKind())
	byName := map[string]*config.Receiver{}
	for i := range cfg.Receivers {
		byName[cfg.Receivers[i].Name] = &cfg.Receivers[i]
	}

	slack := byName["ops-slack"]
	require.NotNil(t, slack)
	require.Len(t, slack.SlackConfigs, 1)
	sc := slack.SlackConfigs[0]
	require.NotNil(t, sc.APIURL)
	assert.Equal(t, slackURL, sc.APIURL.String())
	assert.Equal(t, "#alerts", sc.Channel)
	assert.True(t, sc.SendResolved())

	hook := byName["ops-hook"]
	require.NotNil(t, hook)
	require.Len(t, hook.WebhookConfigs, 1)
	assert.Equal(t, "https://hooks.example.com/alertmanager", string(hook.WebhookConfigs[0].URL))
	// Alertmanager defaults send_resolved to true for webhooks, so the
	// loaded value cannot tell whether it was set; the rendered one can.
	assert.Equal(t, true, rendered(t, "ops-hook", "webhook_configs")["send_resolved"])

	pager := byName["ops-pager"]
	require.NotNil(t, pager)
	require.Len(t, pager.PagerdutyConfigs, 1)
	assert.Equal(t, pagerKey, string(pager.PagerdutyConfigs[0].RoutingKey))
	assert.Empty(t, pager.PagerdutyConfigs[0].ServiceKey, "routing key must not go to the Events API v1 service_key")

	mail := byName["ops-mail"]
	require.NotNil(t, mail)
	require.Len(t, mail.EmailConfigs, 1)
	ec := mail.EmailConfigs[0]
	assert.Equal(t, "oncall@example.com", ec.To)
	assert.Equal(t, "alertmanager@example.com", ec.From)
	assert.Equal(t, "smtp.example.com:587", ec.Smarthost.String())
	assert.Equal(t, "alertmanager", ec.AuthUsername)
	assert.Equal(t, smtpPassword, string(ec.AuthPassword))
	require.NotNil(t, ec.RequireTLS)
	assert.True(t, *ec.RequireTLS)
	// Alertmanager's global default is require_tls true as well; only the
	// rendered config shows that it is set, so that it does not depend on
	// the chart's global section.
	assert.Equal(t, true, rendered(t, "ops-mail", "email_configs")["require_tls"])
}

// rendered returns the first entry under key of the receiver name in
// Config(everyKind()).
func rendered(t *testing.T, name, key string) map[string]any {
	t.Helper()
	cfg, err := Config(everyKind())
	require.NoError(t, err)
	for _, rc := range cfg["receivers"].([]any) {
		if rc := rc.(map[string]any); rc["name"] == name {
			configs, ok := rc[key].([]any)
			require.True(t, ok, "receiver %q has no %s", name, key)
			require.Len(t, configs, 1)
			return configs[0].(map[string]any)
		}
	}
	require.Failf(t, "missing receiver", "no receiver %q in Config", name)
	return nil
}

// secretPaths walks a decoded YAML document and returns the path of every
// string that contains secret. List items with a name are keyed by it so
// that paths do not depend on receiver order.
func secretPaths(node any, path, secret string) []string {
	switch n := node.(type) {
	case map[string]any:
		var out []string
		for k, v := range n {
			if strings.Contains(k, secret) {
				out = append(out, path+"<key>")
			}
			out = append(out, secretPaths(v, path+"."+k, secret)...)
		}
		return out
	case []any:
		var out []string
		for i, v := range n {
			key := fmt.Sprint(i)
			if m, ok := v.(map[string]any); ok {
				if name, ok := m["name"].(string); ok {
					key = name
				}
			}
			out = append(out, secretPaths(v, path+"["+key+"]", secret)...)
		}
		return out
	case string:
		if strings.Contains(n, secret) {
			return []string{path}
		}
	}
	return nil
}

func TestSecretsOnlyWhereTheyBelong(t *testing.T) {
	out, err := YAML(everyKind())
	require.NoError(t, err)
	var doc any
	require.NoError(t, yaml.Unmarshal([]byte(out), &doc))

	tests := []struct {
		name   string
		secret string
		want   string
	}{
		{"slack webhook URL", slackURL, ".receivers[ops-slack].slack_configs[0].api_url"},
		{"PagerDuty routing key", pagerKey, ".receivers[ops-pager].pagerduty_configs[0].routing_key"},
		{"SMTP password", smtpPassword, ".receivers[ops-mail].email_configs[0].auth_password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, []string{tt.want}, secretPaths(doc, "", tt.secret))
			assert.Equal(t, 1, strings.Count(out, tt.secret), "secret appears more than once in:\n%s", out)
		})
	}
}

func TestYAMLIsConfig(t *testing.T) {
	for name, r := range map[string]Receivers{"none": {}, "every kind": everyKind()} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Config(r)
			require.NoError(t, err)
			out, err := YAML(r)
			require.NoError(t, err)
			// Decoding gives plain maps, slices, strings and bools; equal
			// values prove Config holds nothing else, which is what Helm
			// values can carry.
			var decoded map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(out), &decoded))
			assert.Equal(t, decoded, cfg)
		})
	}
}

func TestSlackTemplatesRender(t *testing.T) {
	cfg := load(t, everyKind())
	i := slices.IndexFunc(cfg.Receivers, func(r config.Receiver) bool { return r.Name == "ops-slack" })
	require.GreaterOrEqual(t, i, 0)
	sc := cfg.Receivers[i].SlackConfigs
	require.Len(t, sc, 1)
	tmpl, err := template.FromGlobs(nil)
	require.NoError(t, err)

	firing := &template.Data{
		Status: "firing",
		Alerts: template.Alerts{{
			Status: "firing",
			Labels: template.KV{"alertname": "KubePodCrashLooping", "namespace": "apps", "severity": "warning"},
			Annotations: template.KV{
				"summary":     "Pod is crash looping.",
				"runbook_url": "https://runbooks.example.com/kubepodcrashlooping",
			},
		}},
		CommonLabels: template.KV{"alertname": "KubePodCrashLooping", "namespace": "apps", "severity": "warning"},
	}
	title, err := tmpl.ExecuteTextString(sc[0].Title, firing)
	require.NoError(t, err)
	assert.Equal(t, "[FIRING:1] KubePodCrashLooping in apps", title)
	text, err := tmpl.ExecuteTextString(sc[0].Text, firing)
	require.NoError(t, err)
	assert.Equal(t, "*warning*: Pod is crash looping. <https://runbooks.example.com/kubepodcrashlooping|runbook>\n", text)

	// Alerts of kube-prometheus-stack's older rules carry only a message
	// annotation, and cluster-wide alerts have no namespace.
	resolved := &template.Data{
		Status: "resolved",
		Alerts: template.Alerts{{
			Status:      "resolved",
			Labels:      template.KV{"alertname": "Legacy", "severity": "critical"},
			Annotations: template.KV{"message": "Old style."},
		}},
		CommonLabels: template.KV{"alertname": "Legacy", "severity": "critical"},
	}
	title, err = tmpl.ExecuteTextString(sc[0].Title, resolved)
	require.NoError(t, err)
	assert.Equal(t, "[RESOLVED] Legacy", title)
	text, err = tmpl.ExecuteTextString(sc[0].Text, resolved)
	require.NoError(t, err)
	assert.Equal(t, "*critical*: Old style.\n", text)
}

// joined returns the errors errors.Join combined.
func joined(t *testing.T, err error) []error {
	t.Helper()
	require.Error(t, err)
	var j interface{ Unwrap() []error }
	require.True(t, errors.As(err, &j), "not an errors.Join error: %v", err)
	return j.Unwrap()
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *Receivers)
		// path is the key the error must name, after "sre-lab:alertmanager.".
		path string
		// value is how the error must show the value.
		value string
		// allowed is a phrase of what is allowed.
		allowed string
		// secret must not appear in the error.
		secret string
	}{
		{
			name:    "slack name missing",
			mutate:  func(r *Receivers) { r.Slack[0].Name = "" },
			path:    "slack[0].name",
			value:   `""`,
			allowed: "must be a lowercase DNS label",
		},
		{
			name:    "slack name not a DNS label",
			mutate:  func(r *Receivers) { r.Slack[0].Name = "Ops_Slack" },
			path:    "slack[0].name",
			value:   `"Ops_Slack"`,
			allowed: "must be a lowercase DNS label",
		},
		{
			name:    "name too long",
			mutate:  func(r *Receivers) { r.Webhooks[0].Name = strings.Repeat("a", 64) },
			path:    "webhooks[0].name",
			value:   `"` + strings.Repeat("a", 64) + `"`,
			allowed: "at most 63 characters",
		},
		{
			name:    "name reserved",
			mutate:  func(r *Receivers) { r.Email[0].Name = "null" },
			path:    "email[0].name",
			value:   `"null"`,
			allowed: "is reserved",
		},
		{
			name:    "slack apiUrl plain http",
			mutate:  func(r *Receivers) { r.Slack[0].APIURL = "http://hooks.slack.com/services/T0/B0/h77pT0ken" },
			path:    "slack[0].apiUrl",
			value:   "(secret)",
			allowed: "must be an https URL",
			secret:  "h77pT0ken",
		},
		{
			name:    "slack apiUrl without scheme",
			mutate:  func(r *Receivers) { r.Slack[0].APIURL = "hooks.slack.com/services/T0/B0/n0SchemeT0ken" },
			path:    "slack[0].apiUrl",
			value:   "(secret)",
			allowed: "must be an https URL",
			secret:  "n0SchemeT0ken",
		},
		{
			name:    "slack apiUrl unparsable",
			mutate:  func(r *Receivers) { r.Slack[0].APIURL = "https://hooks.slack.com/%zzbadT0ken" },
			path:    "slack[0].apiUrl",
			value:   "(secret)",
			allowed: "must be an https URL",
			secret:  "badT0ken",
		},
		{
			name:    "slack apiUrl missing",
			mutate:  func(r *Receivers) { r.Slack[0].APIURL = "" },
			path:    "slack[0].apiUrl",
			value:   `""`,
			allowed: "must be an https URL",
		},
		{
			name:    "slack channel without prefix",
			mutate:  func(r *Receivers) { r.Slack[0].Channel = "alerts" },
			path:    "slack[0].channel",
			value:   `"alerts"`,
			allowed: "must start with '#' for a channel or '@' for a user",
		},
		{
			name:    "slack channel with a space",
			mutate:  func(r *Receivers) { r.Slack[0].Channel = "#my alerts" },
			path:    "slack[0].channel",
			value:   `"#my alerts"`,
			allowed: "without spaces",
		},
		{
			name:    "webhook url other scheme",
			mutate:  func(r *Receivers) { r.Webhooks[0].URL = "ftp://example.com/alerts" },
			path:    "webhooks[0].url",
			value:   "(secret)",
			allowed: "must be an http or https URL",
		},
		{
			name:    "webhook url without host",
			mutate:  func(r *Receivers) { r.Webhooks[0].URL = "https:///alerts" },
			path:    "webhooks[0].url",
			value:   "(secret)",
			allowed: "must be an http or https URL",
		},
		{
			name:    "webhook url missing",
			mutate:  func(r *Receivers) { r.Webhooks[0].URL = "" },
			path:    "webhooks[0].url",
			value:   `""`,
			allowed: "must be an http or https URL",
		},
		{
			name:    "webhook url plain http to a public host",
			mutate:  func(r *Receivers) { r.Webhooks[0].URL = "http://hooks.example.com/alertmanager?token=h77pH00kT0ken" },
			path:    "webhooks[0].url",
			value:   "(secret)",
			allowed: "must be https outside the cluster",
			secret:  "h77pH00kT0ken",
		},
		{
			name:    "webhook url plain http to an address",
			mutate:  func(r *Receivers) { r.Webhooks[0].URL = "http://10.0.0.12:9095/alerts" },
			path:    "webhooks[0].url",
			value:   "(secret)",
			allowed: "http is accepted only for a cluster-internal service (*.svc, *.cluster.local)",
		},
		{
			name:    "webhook url plain http to a host that only looks internal",
			mutate:  func(r *Receivers) { r.Webhooks[0].URL = "http://receiver.svc.example.com/alerts" },
			path:    "webhooks[0].url",
			value:   "(secret)",
			allowed: "must be https outside the cluster",
		},
		{
			name:    "webhook url plain http to a bare svc",
			mutate:  func(r *Receivers) { r.Webhooks[0].URL = "http://svc/alerts" },
			path:    "webhooks[0].url",
			value:   "(secret)",
			allowed: "must be https outside the cluster",
		},
		{
			name:    "routing key too short",
			mutate:  func(r *Receivers) { r.PagerDuty[0].RoutingKey = "sh0rtk3y0123456789abcdef0123456" },
			path:    "pagerDuty[0].routingKey",
			value:   "(secret)",
			allowed: "32 characters a-z and 0-9",
			secret:  "sh0rtk3y0123456789abcdef0123456",
		},
		{
			name:    "routing key upper case",
			mutate:  func(r *Receivers) { r.PagerDuty[0].RoutingKey = "UPPERk3y0123456789abcdef01234567" },
			path:    "pagerDuty[0].routingKey",
			value:   "(secret)",
			allowed: "Events API v2 integration key",
			secret:  "UPPERk3y",
		},
		{
			name:    "routing key missing",
			mutate:  func(r *Receivers) { r.PagerDuty[0].RoutingKey = "" },
			path:    "pagerDuty[0].routingKey",
			value:   `""`,
			allowed: "Events API v2 integration key",
		},
		{
			name:    "email to not an address",
			mutate:  func(r *Receivers) { r.Email[0].To = "oncall" },
			path:    "email[0].to",
			value:   `"oncall"`,
			allowed: "must be one or more email addresses",
		},
		{
			name:    "email to missing",
			mutate:  func(r *Receivers) { r.Email[0].To = "" },
			path:    "email[0].to",
			value:   `""`,
			allowed: "must be one or more email addresses",
		},
		{
			name:    "email from two addresses",
			mutate:  func(r *Receivers) { r.Email[0].From = "a@example.com, b@example.com" },
			path:    "email[0].from",
			value:   `"a@example.com, b@example.com"`,
			allowed: "must be one email address",
		},
		{
			name:    "smarthost without port",
			mutate:  func(r *Receivers) { r.Email[0].Smarthost = "smtp.example.com" },
			path:    "email[0].smarthost",
			value:   `"smtp.example.com"`,
			allowed: "must be host:port",
		},
		{
			name:    "smarthost without host",
			mutate:  func(r *Receivers) { r.Email[0].Smarthost = ":587" },
			path:    "email[0].smarthost",
			value:   `":587"`,
			allowed: "must be host:port",
		},
		{
			name:    "smarthost port out of range",
			mutate:  func(r *Receivers) { r.Email[0].Smarthost = "smtp.example.com:70000" },
			path:    "email[0].smarthost",
			value:   `"smtp.example.com:70000"`,
			allowed: "port from 1 to 65535",
		},
		{
			name:    "auth password without username",
			mutate:  func(r *Receivers) { r.Email[0].AuthUsername = "" },
			path:    "email[0].authUsername",
			value:   `""`,
			allowed: "must be set when authPassword is set",
			secret:  smtpPassword,
		},
		{
			name:    "auth username without password",
			mutate:  func(r *Receivers) { r.Email[0].AuthPassword = "" },
			path:    "email[0].authPassword",
			value:   `""`,
			allowed: "must be set when authUsername is set",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := everyKind()
			tt.mutate(&r)
			err := r.Validate()
			errs := joined(t, err)
			require.Len(t, errs, 1, "want only the mutated value rejected: %v", err)
			msg := err.Error()
			assert.Contains(t, msg, "sre-lab:alertmanager."+tt.path+" = "+tt.value+": ")
			assert.Contains(t, msg, tt.allowed)
			// The valid fixtures' secrets must not leak either.
			for _, secret := range []string{tt.secret, slackURL, pagerKey, smtpPassword} {
				if secret != "" {
					assert.NotContains(t, msg, secret)
				}
			}

			// Rendering refuses what Validate rejects.
			cfg, cerr := Config(r)
			assert.Nil(t, cfg)
			assert.Equal(t, msg, errorString(cerr))
			out, yerr := YAML(r)
			assert.Empty(t, out)
			assert.Equal(t, msg, errorString(yerr))
		})
	}
}

func errorString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestValidateReportsEveryProblem(t *testing.T) {
	r := Receivers{
		Slack:     []Slack{{Name: "Bad Name", APIURL: "ftp://x/" + slackURL}},
		Webhooks:  []Webhook{{Name: "hook", URL: "nope"}},
		PagerDuty: []PagerDuty{{Name: "pager", RoutingKey: strings.ToUpper(pagerKey)}},
		Email:     []Email{{Name: "mail", To: "x", From: "y", Smarthost: "z", AuthPassword: smtpPassword}},
	}
	err := r.Validate()
	errs := joined(t, err)
	var paths []string
	for _, e := range errs {
		path, _, ok := strings.Cut(e.Error(), " = ")
		require.True(t, ok, e.Error())
		paths = append(paths, strings.TrimPrefix(path, "sre-lab:alertmanager."))
	}
	assert.Equal(t, []string{
		"slack[0].name", "slack[0].apiUrl",
		"webhooks[0].url",
		"pagerDuty[0].routingKey",
		"email[0].to", "email[0].from", "email[0].smarthost", "email[0].authUsername",
	}, paths)
	for _, secret := range []string{slackURL, strings.ToUpper(pagerKey), smtpPassword} {
		assert.NotContains(t, err.Error(), secret)
	}
}

func TestValidateDuplicateNames(t *testing.T) {
	tests := []struct {
		name      string
		receivers Receivers
		// want is each duplicate's path and the path of the name it repeats.
		want [][2]string
	}{
		{
			name: "across kinds",
			receivers: Receivers{
				Slack:     []Slack{{Name: "ops", APIURL: slackURL}},
				Webhooks:  []Webhook{{Name: "ops", URL: "https://hooks.example.com/"}},
				PagerDuty: []PagerDuty{{Name: "ops", RoutingKey: pagerKey}},
				Email:     []Email{{Name: "ops", To: "a@example.com", From: "b@example.com", Smarthost: "smtp.example.com:25"}},
			},
			want: [][2]string{
				{"webhooks[0].name", "slack[0].name"},
				{"pagerDuty[0].name", "slack[0].name"},
				{"email[0].name", "slack[0].name"},
			},
		},
		{
			name: "within a kind",
			receivers: Receivers{Webhooks: []Webhook{
				{Name: "hook", URL: "https://a.example.com/"},
				{Name: "other", URL: "https://b.example.com/"},
				{Name: "hook", URL: "https://c.example.com/"},
			}},
			want: [][2]string{{"webhooks[2].name", "webhooks[0].name"}},
		},
		{
			name: "pagerduty then email",
			receivers: Receivers{
				PagerDuty: []PagerDuty{{Name: "oncall", RoutingKey: pagerKey}},
				Email:     []Email{{Name: "oncall", To: "a@example.com", From: "b@example.com", Smarthost: "smtp.example.com:25"}},
			},
			want: [][2]string{{"email[0].name", "pagerDuty[0].name"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.receivers.Validate()
			errs := joined(t, err)
			require.Len(t, errs, len(tt.want), "%v", err)
			for i, w := range tt.want {
				assert.Contains(t, errs[i].Error(), "sre-lab:alertmanager."+w[0]+" = ")
				assert.Contains(t, errs[i].Error(), "must be unique across all receivers; already used by sre-lab:alertmanager."+w[1])
			}
			assert.NotContains(t, err.Error(), slackURL)
			assert.NotContains(t, err.Error(), pagerKey)
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name      string
		receivers Receivers
	}{
		{"nothing", Receivers{}},
		{"every kind", everyKind()},
		{"slack on another https host, user channel", Receivers{Slack: []Slack{{Name: "s", APIURL: "https://chat.example.com:8443/hooks/x?token=1", Channel: "@oncall"}}}},
		{"slack default channel", Receivers{Slack: []Slack{{Name: "s", APIURL: slackURL}}}},
		{"webhook over http with a port", Receivers{Webhooks: []Webhook{{Name: "w", URL: "http://receiver.monitoring.svc:9095/alerts"}}}},
		{"webhook over http by the full cluster name", Receivers{Webhooks: []Webhook{{Name: "w", URL: "http://receiver.monitoring.svc.cluster.local/alerts"}}}},
		{"webhook over http to a fully qualified cluster name", Receivers{Webhooks: []Webhook{{Name: "w", URL: "http://Receiver.Monitoring.SVC.:9095/alerts"}}}},
		{"webhook over https to a public host", Receivers{Webhooks: []Webhook{{Name: "w", URL: "https://hooks.example.com/alertmanager"}}}},
		{"email to several, from with a display name, no auth", Receivers{Email: []Email{{
			Name: "m", To: "a@example.com, B <b@example.com>", From: "Alertmanager <am@example.com>", Smarthost: "10.0.0.25:465",
		}}}},
		{"email to an IPv6 relay", Receivers{Email: []Email{{Name: "m", To: "a@example.com", From: "b@example.com", Smarthost: "[2001:db8::25]:587"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.receivers.Validate())
			// What Validate accepts, Alertmanager must load.
			load(t, tt.receivers)
		})
	}
}

// TestConfigLoadRejectsBrokenConfig proves that config.Load, which the
// tests above rely on, does reject configurations Alertmanager would not
// start with, so their passing means something.
func TestConfigLoadRejectsBrokenConfig(t *testing.T) {
	const handWritten = `
route:
  receiver: %s
  routes:
    - receiver: %s
      matchers: ['%s']
receivers:
  - name: "null"
  - name: team
    webhook_configs:
      - url: https://hooks.example.com/
`
	tests := []struct {
		name    string
		config  string
		wantErr string
	}{
		{"control: valid", fmt.Sprintf(handWritten, `"null"`, "team", `severity="critical"`), ""},
		{"route to an undefined receiver", fmt.Sprintf(handWritten, `"null"`, "nowhere", `severity="critical"`), `undefined receiver "nowhere" used in route`},
		{"root receiver undefined", fmt.Sprintf(handWritten, "missing", "team", `severity="critical"`), `undefined receiver "missing" used in route`},
		{"bad matcher", fmt.Sprintf(handWritten, `"null"`, "team", `severity=="critical"`), "unescaped double quote"},
		{"unknown key", "route:\n  receiver: x\n  recevier: y\nreceivers:\n  - name: x\n", "recevier"},
		{"no route", "receivers:\n  - name: x\n", "no routes provided"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(tt.config)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}

	// The same holds for this package's output once it is broken.
	cfg, err := Config(everyKind())
	require.NoError(t, err)
	routes := cfg["route"].(map[string]any)["routes"].([]any)
	last := routes[len(routes)-1].(map[string]any)
	last["receiver"] = "gone"
	out, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	_, err = config.Load(string(out))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `undefined receiver "gone" used in route`)
}
