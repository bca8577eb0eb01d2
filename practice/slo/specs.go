package slo

import (
	"fmt"
	"strings"
)

// userPaths keeps podinfo's own record of requests to the ones users
// make. The kubelet's probes and Prometheus's scrapes pass through the same
// middleware, so their routes (healthz, readyz, metrics, as urlToLabel names
// their templates) are left out.
const userPaths = `path!~"healthz|readyz|metrics"`

// podinfoRequests are the requests podinfo answered: the count of its
// request-duration histogram, labelled method, path and status (podinfo
// pkg/api/http/metrics.go, NewPrometheusMiddleware; its
// http_requests_total counter carries only status, so it cannot leave the
// probes out).
var podinfoRequests = selector("http_request_duration_seconds_count",
	`namespace="`+DemoNamespace+`"`, `job="`+DemoApp+`"`, userPaths)

// podinfoTimed selects the requests the latency SLO judges: every user
// request but those to /delay/{wait} and /chunked/{wait}, which take as
// long as they are asked to by design (podinfo pkg/api/http/delay.go,
// chunked.go) and which the load generator calls for slow samples on the
// dashboards. The route named "delay" is labelled by its name, the other
// by its template (server.go, registerHandlers; metrics.go, getRouteName).
var podinfoTimed = []string{`namespace="` + DemoNamespace + `"`, `job="` + DemoApp + `"`, `path!~"healthz|readyz|metrics|delay|chunked_wait"`}

// fastBucket is the 250ms bucket of podinfo's histogram, which uses
// client_golang's default buckets (prometheus.DefBuckets), among them 0.25.
const fastBucket = `le="0.25"`

// ingressListeners are the HTTP connection managers of Cilium's Ingress
// and Gateway listeners: Cilium sets their stat_prefix to
// listener-insecure and listener-secure (cilium
// operator/pkg/model/translation/envoy_listener.go, NewHTTPListener), and
// the agent keeps it when it loads the CiliumEnvoyConfig. Envoy's default
// tag extraction turns http.<stat_prefix>. into the label
// envoy_http_conn_manager_prefix and *_rq_<d>xx into envoy_response_code_class
// with the bare digit (envoy source/common/config/well_known_names.cc); the
// chart's bootstrap sets no stats_config, so the defaults apply (cilium
// install/kubernetes/cilium/files/cilium-envoy/configmap/bootstrap-config.yaml).
const ingressListeners = `envoy_http_conn_manager_prefix=~"listener-(in)?secure"`

// apiserverRequests are the API server's requests that end: WATCH and
// CONNECT stay open by design and would count as neither.
var apiserverRequests = []string{`job="apiserver"`, `verb!~"WATCH|CONNECT"`}

// All returns the lab's SLOs: the demo service's availability and latency,
// the Kubernetes API server's availability and the ingress's success rate.
func All() []SLO {
	return []SLO{
		{
			Service:     DemoApp,
			Name:        "requests-availability",
			Title:       "Demo availability",
			Description: "Share of podinfo's requests it answers without a 5xx status, as podinfo counts them.",
			Objective:   99.5,
			ErrorQuery:  rate(withMatchers(podinfoRequests, `status=~"5.."`)),
			TotalQuery:  rate(podinfoRequests),
			Alert:       "DemoHighErrorRate",
			Summary:     "The demo service burns its availability error budget too fast.",
			Explanation: "podinfo answers too many requests with a 5xx status: at the current rate the 30-day error budget of its 99.5% availability SLO runs out early ({{ $labels.sloth_severity }} burn rate).",
			Guard: &Guard{
				Alert:  "DemoNotServing",
				Series: podinfoRequests,
				// A steady load generator sends several requests a
				// second, so five minutes without one is an outage or
				// clients that cannot reach podinfo, not a quiet spell.
				Window:      "5m",
				For:         "2m",
				Summary:     "The demo service answers no requests.",
				Explanation: "podinfo has recorded no user request for 5 minutes, or is not scraped at all: its pods are down or unreachable, or its clients cannot reach it. Its availability SLO cannot see this, since it has no events to judge.",
			},
		},
		{
			Service: DemoApp,
			Name:    "requests-latency",
			Title:   "Demo latency",
			// podinfo's histogram starts when its handler starts and stops
			// when the handler returns (pkg/api/http/metrics.go,
			// PrometheusMiddleware.Handler): the network, and a request
			// waiting before podinfo reads it, never show here. The
			// drills show what that leaves out.
			Description: "Share of podinfo's user requests (the deliberately slow /delay and /chunked aside) that its handlers answer within 250ms, as podinfo times them.",
			Objective:   99,
			ErrorQuery: "(" + rate(selector("http_request_duration_seconds_count", podinfoTimed...)) + ")\n-\n(" +
				rate(selector("http_request_duration_seconds_bucket", append(podinfoTimed, fastBucket)...)) + ")",
			TotalQuery:  rate(selector("http_request_duration_seconds_count", podinfoTimed...)),
			Alert:       "DemoHighLatency",
			Summary:     "The demo service burns its latency error budget too fast.",
			Explanation: "podinfo takes longer than 250ms over too many requests: at the current rate the 30-day error budget of its 99% latency SLO runs out early ({{ $labels.sloth_severity }} burn rate).",
		},
		{
			Service:     "kube-apiserver",
			Name:        "requests-availability",
			Title:       "Kubernetes API server availability",
			Description: "Share of the API servers' requests (long-running WATCH and CONNECT aside) answered without a 5xx status.",
			Objective:   99.9,
			ErrorQuery:  rate(selector("apiserver_request_total", append(apiserverRequests, `code=~"5.."`)...)),
			TotalQuery:  rate(selector("apiserver_request_total", apiserverRequests...)),
			Alert:       "APIServerHighErrorRate",
			Summary:     "The Kubernetes API burns its availability error budget too fast.",
			Explanation: "The API servers answer too many requests with a 5xx status: at the current rate the 30-day error budget of their 99.9% availability SLO runs out early ({{ $labels.sloth_severity }} burn rate).",
		},
		{
			Service:     "cilium-ingress",
			Name:        "requests-success",
			Title:       "Ingress success rate",
			Description: "Share of requests Cilium's ingress (every host, HTTP and HTTPS) answers without a 5xx status, including the ones Envoy answers itself when no backend is there.",
			Objective:   99.5,
			ErrorQuery:  rate(selector("envoy_http_downstream_rq_xx", ingressListeners, `envoy_response_code_class="5"`)),
			TotalQuery:  rate(selector("envoy_http_downstream_rq_total", ingressListeners)),
			Alert:       "IngressHighErrorRate",
			Summary:     "The ingress burns its success-rate error budget too fast.",
			Explanation: "Cilium's ingress answers too many requests with a 5xx status: at the current rate the 30-day error budget of its 99.5% success-rate SLO runs out early ({{ $labels.sloth_severity }} burn rate).",
		},
	}
}

// selector is metric{matchers...}.
func selector(metric string, matchers ...string) string {
	return metric + "{" + strings.Join(matchers, ", ") + "}"
}

// withMatchers adds matchers to a selector.
func withMatchers(sel string, matchers ...string) string {
	return strings.TrimSuffix(sel, "}") + ", " + strings.Join(matchers, ", ") + "}"
}

// rate is the events per second of a counter selector over sloth's window.
func rate(sel string) string {
	return fmt.Sprintf("sum(rate(%s[{{.window}}]))", sel)
}
