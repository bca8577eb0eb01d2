package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/your-org/sre-lab/verify"
)

// Where the lab's query APIs answer, behind the API server's service
// proxy like verify's paths: kube-prometheus-stack's Prometheus and
// Alertmanager in monitoring, Loki in logging.
const (
	pathPromQuery     = verify.PrometheusProxy + "/api/v1/query"
	pathLokiQuery     = "/api/v1/namespaces/logging/services/loki:3100/proxy/loki/api/v1/query"
	pathAlertmanager  = "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-alertmanager:9093/proxy"
	pathAlertStatus   = pathAlertmanager + "/api/v2/status"
	pathAlertsCurrent = pathAlertmanager + "/api/v2/alerts"
)

// sample is one element of an instant vector.
type sample struct {
	Labels map[string]string
	Value  float64
}

// instant runs an instant query at the server's "now" and returns the
// vector. Prometheus and Loki share the API shape: the answer's status,
// an error text on failure, and [time, "value"] pairs. No time parameter
// is sent, so the request is the same on every run and the recorded
// answers of the tests match it.
func instant(ctx context.Context, kube *verify.KubeClient, path, query string) ([]sample, error) {
	status, body, err := kube.Get(ctx, path+"?"+url.Values{"query": {query}}.Encode())
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	// Anything but Prometheus's own "success" or "error" answer came
	// from elsewhere: the API server's Status object (whose status is
	// "Failure"), a proxy's page, a service that is not ready.
	if json.Unmarshal(body, &answer) != nil || (answer.Status != "success" && answer.Status != "error") {
		return nil, fmt.Errorf("query %s: %s", query, verify.Describe(status, body))
	}
	if status != http.StatusOK || answer.Status != "success" {
		return nil, fmt.Errorf("query %s: %d %s: %s", query, status, answer.Status, answer.Error)
	}
	if answer.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result type %q, want a vector", query, answer.Data.ResultType)
	}
	out := make([]sample, 0, len(answer.Data.Result))
	for _, r := range answer.Data.Result {
		var text string
		if len(r.Value) == 2 {
			text, _ = r.Value[1].(string)
		}
		if text == "" {
			return nil, fmt.Errorf("query %s: a sample of %v has no value", query, r.Metric)
		}
		v, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsNaN(v) {
			return nil, fmt.Errorf("query %s: %v has value %q", query, r.Metric, text)
		}
		out = append(out, sample{Labels: r.Metric, Value: v})
	}
	return out, nil
}

// logRange renders a log window as a LogQL range, in whole minutes where
// it is some, as a person would write it.
func logRange(window time.Duration) string {
	if window%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(window/time.Minute))
	}
	return fmt.Sprintf("%ds", max(int(window/time.Second), 1))
}

// isNode reports whether a label value names node n: its name, one of its
// addresses, or an address with a port (a scrape target's instance).
func isNode(n verify.Node, value string) bool {
	if host, _, err := net.SplitHostPort(value); err == nil {
		value = host
	}
	return value != "" && (value == n.Name || value == n.PrivateIP || value == n.PublicIP)
}

// missingNodes are the nodes no sample names in any of labels.
func missingNodes(nodes []verify.Node, samples []sample, labels ...string) []string {
	var missing []string
	for _, n := range nodes {
		found := false
		for _, s := range samples {
			for _, l := range labels {
				found = found || isNode(n, s.Labels[l])
			}
		}
		if !found {
			missing = append(missing, n.Name)
		}
	}
	return missing
}

// errEmpty is the failure of a query that should have found data.
func errEmpty(query, what string) error {
	return errors.New("no data: " + query + " returned nothing; " + what)
}
