// Package e2etest is a recorded lab for testing the e2e assertions: the
// answers of Prometheus, Loki, Grafana and Alertmanager of a healthy
// five-node lab (verifytest's), behind a fake Kubernetes API server's
// service proxy, with broken variants under testdata/.
package e2etest

import (
	"embed"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/your-org/sre-lab/verify/verifytest"
)

//go:embed testdata
var testdata embed.FS

// Fixture returns a recorded file from testdata. A missing name is a typo in
// a test, so it panics rather than letting the test run on an empty body.
func Fixture(name string) []byte {
	b, err := testdata.ReadFile("testdata/" + name)
	if err != nil {
		panic(err)
	}
	return b
}

// The request paths the assertions must ask for. They are written out here
// again, not imported from e2e, so a typo there fails the tests.
const (
	PathPromQuery    = "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-prometheus:9090/proxy/api/v1/query"
	PathLokiQuery    = "/api/v1/namespaces/logging/services/loki:3100/proxy/loki/api/v1/query"
	PathGrafana      = "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-grafana:80/proxy"
	PathAlertmanager = "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-alertmanager:9093/proxy"
)

// Window is the log window the Loki queries below are written for.
const Window = 15 * time.Minute

// The queries the assertions must run, written out for the same reason.
const (
	QueryUp               = "up"
	QueryControlPlane     = `up{job=~"kube-etcd|kube-scheduler|kube-controller-manager"}`
	QueryNodeExporter     = "node_uname_info"
	QueryKubeStateMetrics = "kube_node_info"
	QueryHubbleFlows      = "sum by (instance) (hubble_flows_processed_total)"
	QueryPodLogs          = `sum by (namespace) (count_over_time({pod=~".+", job!="kubernetes-events"}[15m]))`
	QueryEvents           = `sum(count_over_time({job="kubernetes-events"}[15m]))`
	QueryTalosLogs        = `sum by (node) (count_over_time({job="talos"}[15m]))`
)

// Grafana API paths under PathGrafana, and Alertmanager's under
// PathAlertmanager.
const (
	GrafanaLogin            = "/login"
	GrafanaPrometheusHealth = "/api/datasources/uid/prometheus/health"
	GrafanaLokiHealth       = "/api/datasources/uid/loki/health"
	GrafanaClusterOverview  = "/api/dashboards/uid/sre-lab-cluster-overview"
	GrafanaHubble           = "/api/dashboards/uid/sre-lab-cilium-hubble"
	AlertmanagerStatus      = "/api/v2/status"
	AlertmanagerAlerts      = "/api/v2/alerts"
)

// Session is the value of the session cookie Grafana hands out at login;
// like the password, tests search every output for it.
const Session = "e2etest-grafana-session-4Fq9Lw2Z"

// EmptyVector is a query's answer when nothing matches.
var EmptyVector = []byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`)

// Lab holds the recorded answers by what the client asks: PromQL and
// LogQL by query, Grafana and Alertmanager by API path. Tests replace
// entries to break one thing at a time. A Grafana answer recorded under
// GrafanaLogin replaces the login itself.
type Lab struct {
	Prometheus   map[string]verifytest.Response
	Loki         map[string]verifytest.Response
	Grafana      map[string]verifytest.Response
	Alertmanager map[string]verifytest.Response

	mu     sync.Mutex
	logins int
}

// Healthy is the recorded healthy lab.
func Healthy() *Lab {
	ok := func(name string) verifytest.Response { return verifytest.OK(Fixture(name)) }
	return &Lab{
		Prometheus: map[string]verifytest.Response{
			QueryUp:               ok("prometheus-up.json"),
			QueryControlPlane:     ok("prometheus-control-plane.json"),
			QueryNodeExporter:     ok("prometheus-node-uname.json"),
			QueryKubeStateMetrics: ok("prometheus-kube-node-info.json"),
			QueryHubbleFlows:      ok("prometheus-hubble-flows.json"),
		},
		Loki: map[string]verifytest.Response{
			QueryPodLogs:   ok("loki-pod-logs.json"),
			QueryEvents:    ok("loki-events.json"),
			QueryTalosLogs: ok("loki-talos.json"),
		},
		Grafana: map[string]verifytest.Response{
			GrafanaPrometheusHealth: ok("grafana-health-prometheus.json"),
			GrafanaLokiHealth:       ok("grafana-health-loki.json"),
			GrafanaClusterOverview:  ok("grafana-dashboard-cluster-overview.json"),
			GrafanaHubble:           ok("grafana-dashboard-hubble.json"),
		},
		Alertmanager: map[string]verifytest.Response{
			AlertmanagerStatus: ok("alertmanager-status.json"),
			AlertmanagerAlerts: ok("alertmanager-alerts.json"),
		},
	}
}

// Logins is how many times Grafana was logged in to.
func (l *Lab) Logins() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logins
}

// NewServer serves the lab behind a fake API server; it is closed when
// the test ends.
func NewServer(t testing.TB, lab *Lab) *verifytest.Server {
	return verifytest.NewHandlerServer(t, http.HandlerFunc(lab.serve))
}

func (l *Lab) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	query := r.URL.Query().Get("query")
	switch {
	case path == PathPromQuery && r.Method == http.MethodGet:
		l.answerQuery(w, l.Prometheus, query)
	case path == PathLokiQuery && r.Method == http.MethodGet:
		l.answerQuery(w, l.Loki, query)
	case strings.HasPrefix(path, PathGrafana+"/"):
		l.grafana(w, r, strings.TrimPrefix(path, PathGrafana))
	case strings.HasPrefix(path, PathAlertmanager+"/") && r.Method == http.MethodGet:
		answer(w, l.Alertmanager, strings.TrimPrefix(r.RequestURI, PathAlertmanager))
	default:
		verifytest.Status(http.StatusNotFound, "NotFound", "the server could not find the requested resource").Write(w)
	}
}

// answerQuery answers as Prometheus and Loki answer a query they cannot
// run; a query without a recorded answer is a test's mistake and must not
// pass as an empty result.
func (l *Lab) answerQuery(w http.ResponseWriter, answers map[string]verifytest.Response, query string) {
	resp, ok := answers[query]
	if !ok {
		body, _ := json.Marshal(map[string]string{"status": "error", "errorType": "bad_data", "error": "e2etest: no answer recorded for " + query})
		resp = verifytest.Response{Status: http.StatusBadRequest, Body: body}
	}
	resp.Write(w)
}

// grafana logs in with the lab's admin password and serves the API to
// the session's cookie only, as Grafana does (pkg/api/login.go LoginPost,
// the session cookie "grafana_session" of its default [auth] settings).
func (l *Lab) grafana(w http.ResponseWriter, r *http.Request, path string) {
	if path == GrafanaLogin && r.Method == http.MethodPost {
		if resp, ok := l.Grafana[GrafanaLogin]; ok {
			resp.Write(w)
			return
		}
		var login struct {
			User     string `json:"user"`
			Password string `json:"password"`
		}
		if json.NewDecoder(r.Body).Decode(&login) != nil || login.User != "admin" || login.Password != verifytest.GrafanaAdminPassword {
			verifytest.Response{Status: http.StatusUnauthorized, Body: []byte(`{"message":"Invalid username or password","messageId":"password-auth.failed","statusCode":401,"traceID":""}`)}.Write(w)
			return
		}
		l.mu.Lock()
		l.logins++
		l.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "grafana_session", Value: Session, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.SetCookie(w, &http.Cookie{Name: "grafana_session_expiry", Value: "1767229200", Path: "/", SameSite: http.SameSiteLaxMode})
		verifytest.OK([]byte(`{"message":"Logged in","redirectUrl":"/"}`)).Write(w)
		return
	}
	if c, err := r.Cookie("grafana_session"); err != nil || c.Value != Session || r.Method != http.MethodGet {
		verifytest.Response{Status: http.StatusUnauthorized, Body: []byte(`{"extra":null,"message":"Unauthorized","messageId":"auth.unauthorized","statusCode":401,"traceID":""}`)}.Write(w)
		return
	}
	answer(w, l.Grafana, path)
}

// answer serves a recorded answer, or the service's own 404.
func answer(w http.ResponseWriter, answers map[string]verifytest.Response, key string) {
	resp, ok := answers[key]
	if !ok {
		resp = verifytest.Response{Status: http.StatusNotFound, Body: []byte(`{"message":"Not found"}`)}
	}
	resp.Write(w)
}
