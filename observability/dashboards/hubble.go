package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Variables of the Hubble dashboard. Only the HTTP metrics carry workload
// context in this lab (kube/cilium.HubbleMetrics sets labelsContext on
// httpV2 alone), so only the HTTP panels filter on them.
const (
	namespaceVar = "namespace"
	reporterVar  = "reporter"
)

// httpSelector picks the HTTP series of the chosen destination namespaces
// as reported by the chosen side. Hubble records a request once at each
// end whose proxy sees it; summing both reporters would count it twice.
const httpSelector = `destination_namespace=~"$` + namespaceVar + `",reporter="$` + reporterVar + `"`

// policyDropReasons are the Hubble drop reasons (flow.DropReason enum
// names) of traffic a network policy refused: POLICY_DENIED when no rule
// allowed it, POLICY_DENY when a deny rule matched.
const policyDropReasons = `reason=~"POLICY_DENIED|POLICY_DENY"`

// hubble shows the network as Cilium sees it: how much is flowing, what is
// dropped and why, whether DNS answers, and the HTTP golden signals of the
// workloads behind an L7 policy.
func hubble(b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	b = b.Description("Network health from Cilium's Hubble metrics: flows, drops, policy denials, DNS, HTTP golden signals and TCP flags.").
		WithVariable(dashboard.NewQueryVariableBuilder(namespaceVar).
			Label("Destination namespace").
			Description("Namespaces of the HTTP servers; applies to the HTTP panels only.").
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(hubble_http_requests_total, destination_namespace)")}).
			Definition("label_values(hubble_http_requests_total, destination_namespace)").
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).
			IncludeAll(true).
			// ".*" rather than the list of values, so that "All" also
			// matches traffic to the world, which has no namespace.
			AllValue(".*").
			Current(dashboard.VariableOption{
				Text:  dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
				Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
			})).
		WithVariable(dashboard.NewCustomVariableBuilder(reporterVar).
			Label("Reported by").
			Description("Which end's proxy reports HTTP metrics: server (ingress L7 policy) or client (egress L7 policy).").
			Values(dashboard.StringOrMap{String: cog.ToPtr("server,client")}).
			Current(option("server")).
			Options([]dashboard.VariableOption{option("server"), option("client")}))

	b = b.WithRow(dashboard.NewRowBuilder("Flows")).
		WithPanel(timeseriesPanel("Flows processed by verdict", "Flows Hubble observed per second, by verdict. DROPPED is broken down in the Drops row.", units.OpsPerSecond, 8,
			Query(`sum by (verdict) (rate(hubble_flows_processed_total[$__rate_interval]))`, "{{verdict}}"))).
		WithPanel(timeseriesPanel("Flows processed by type", "Flows per second by event type (Trace, Drop, L7, PolicyVerdict...) and subtype.", units.OpsPerSecond, 8,
			Query(`sum by (type, subtype) (rate(hubble_flows_processed_total[$__rate_interval]))`, "{{type}} {{subtype}}"))).
		WithPanel(timeseriesPanel("Top destination ports", "The ten busiest destination ports of new (non-reply) forwarded traffic.", units.PacketsPerSecond, 8,
			Query(`topk(10, sum by (protocol, port) (rate(hubble_port_distribution_total[$__rate_interval])))`, "{{protocol}}/{{port}}")))

	b = b.WithRow(dashboard.NewRowBuilder("Drops")).
		WithPanel(timeseriesPanel("Hubble drops by reason", "Packets dropped, by Hubble drop reason and protocol.", units.PacketsPerSecond, 8,
			Query(`sum by (reason, protocol) (rate(hubble_drop_total[$__rate_interval]))`, "{{reason}} {{protocol}}"))).
		WithPanel(timeseriesPanel("Agent drops by reason", "Packets the datapath dropped, as counted by the Cilium agent itself, by reason and direction. Useful when Hubble is down or its flow buffer overruns.", units.PacketsPerSecond, 8,
			Query(`sum by (reason, direction) (rate(cilium_drop_count_total[$__rate_interval]))`, "{{reason}} {{direction}}"))).
		WithPanel(timeseriesPanel("Policy denials", "Packets refused by network policy, from Hubble and from the agent. A jump right after a policy change is the change at work; find the flows with `hubble observe --verdict DROPPED`.", units.PacketsPerSecond, 8,
			Query(`sum by (protocol) (rate(hubble_drop_total{`+policyDropReasons+`}[$__rate_interval]))`, "hubble {{protocol}}"),
			// The agent names reasons in prose ("Policy denied", "Policy
			// denied by denylist"), unlike Hubble's enum names.
			Query(`sum by (direction) (rate(cilium_drop_count_total{reason=~"Policy denied.*"}[$__rate_interval]))`, "agent {{direction}}")))

	b = b.WithRow(dashboard.NewRowBuilder("DNS")).
		WithPanel(timeseriesPanel("DNS queries by type", "DNS queries per second seen by Cilium's DNS proxy, by query type. Only pods under a DNS-aware policy go through the proxy.", units.RequestsPerSecond, 8,
			Query(`sum by (qtypes) (rate(hubble_dns_queries_total[$__rate_interval]))`, "{{qtypes}}"))).
		WithPanel(timeseriesPanel("DNS errors by rcode", "DNS responses other than No Error, and queries a policy refused. Some Non-Existent Domain answers are normal in Kubernetes (search-path expansion); Server Failure and Query Refused are not.", units.RequestsPerSecond, 8,
			Query(`sum by (rcode) (rate(hubble_dns_responses_total{rcode!="No Error"}[$__rate_interval]))`, "{{rcode}}"),
			Query(`sum(rate(hubble_dns_queries_total{rcode="Policy denied"}[$__rate_interval]))`, "denied by policy"))).
		WithPanel(timeseriesPanel("DNS error ratio", "Share of DNS responses that are not No Error.", units.PercentUnit, 8,
			Query(`sum(rate(hubble_dns_responses_total{rcode!="No Error"}[$__rate_interval])) / sum(rate(hubble_dns_responses_total[$__rate_interval]))`, "error ratio")))

	b = b.WithRow(dashboard.NewRowBuilder("HTTP golden signals")).
		WithPanel(timeseriesPanel("HTTP request rate", "Requests per second per destination workload. Hubble sees HTTP only for pods under an L7 (HTTP) policy.", units.RequestsPerSecond, 12,
			Query(`sum by (destination_namespace, destination_workload) (rate(hubble_http_requests_total{`+httpSelector+`}[$__rate_interval]))`, "{{destination_namespace}}/{{destination_workload}}"))).
		WithPanel(timeseriesPanel("HTTP 5xx error ratio", "Share of requests per destination workload answered with a 5xx status.", units.PercentUnit, 12,
			Query(`sum by (destination_namespace, destination_workload) (rate(hubble_http_requests_total{`+httpSelector+`,status=~"5.."}[$__rate_interval])) / sum by (destination_namespace, destination_workload) (rate(hubble_http_requests_total{`+httpSelector+`}[$__rate_interval]))`, "{{destination_namespace}}/{{destination_workload}}"))).
		WithPanel(timeseriesPanel("HTTP latency p50 / p95 / p99", "Request duration quantiles per destination workload, measured by the proxy from request to response.", units.Seconds, 24,
			Query(httpQuantile("0.5"), "p50 {{destination_namespace}}/{{destination_workload}}"),
			Query(httpQuantile("0.95"), "p95 {{destination_namespace}}/{{destination_workload}}"),
			Query(httpQuantile("0.99"), "p99 {{destination_namespace}}/{{destination_workload}}")))

	b = b.WithRow(dashboard.NewRowBuilder("TCP")).
		WithPanel(timeseriesPanel("TCP flags", "TCP flags seen on forwarded traffic. SYN is new connections, FIN orderly closes, RST refused or aborted ones.", units.CountsPerSecond, 12,
			Query(`sum by (flag) (rate(hubble_tcp_flags_total[$__rate_interval]))`, "{{flag}}"))).
		WithPanel(timeseriesPanel("TCP resets per SYN", "RSTs per connection attempt. A rise means connections are refused (nothing listening) or torn down.", units.PercentUnit, 12,
			Query(`sum(rate(hubble_tcp_flags_total{flag="RST"}[$__rate_interval])) / sum(rate(hubble_tcp_flags_total{flag="SYN"}[$__rate_interval]))`, "RST / SYN")))

	return b
}

// httpQuantile is quantile q of request duration per destination workload.
func httpQuantile(q string) string {
	return `histogram_quantile(` + q + `, sum by (le, destination_namespace, destination_workload) (rate(hubble_http_request_duration_seconds_bucket{` + httpSelector + `}[$__rate_interval])))`
}

// option is a variable value shown as itself.
func option(v string) dashboard.VariableOption {
	return dashboard.VariableOption{
		Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr(v)},
		Value: dashboard.StringOrArrayOfString{String: cog.ToPtr(v)},
	}
}
