// Package verifytest is a recorded lab for testing the verify command: a
// fake Kubernetes API server answering with responses in the shape a healthy
// five-node lab gives (three control planes, two workers), the matching
// talosctl output and stack outputs, and broken variants under testdata/.
package verifytest

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
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

// The request URIs the checks must ask for. They are written out here
// again, not imported from verify, so a typo there fails the tests.
const (
	PathNodes          = "/api/v1/nodes"
	PathCiliumAgent    = "/apis/apps/v1/namespaces/kube-system/daemonsets/cilium"
	PathCiliumOperator = "/apis/apps/v1/namespaces/kube-system/deployments/cilium-operator"
	PathPromTargets    = "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-prometheus:9090/proxy/api/v1/targets?state=active"
	PathLokiReady      = "/api/v1/namespaces/logging/services/loki:3100/proxy/ready"
	PathGrafanaHealth  = "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-grafana:80/proxy/api/health"
)

// Secret values of the lab. Tests search every output for them.
const (
	Token                = "verifytest-bearer-7Hc2xQ9vLmN4pR8s"
	TalosKey             = "LS0tLS1CRUdJTiBFRDI1NTE5IFBSSVZBVEUgS0VZLS0tLS0KdmVyaWZ5dGVzdC10YWxvcy1rZXk="
	GrafanaAdminPassword = "verifytest-grafana-Zq81kWm3"
)

// Talosconfig is the lab's talosconfig; its key is TalosKey.
const Talosconfig = `context: sre-lab
contexts:
    sre-lab:
        endpoints:
            - 192.168.56.10
            - 192.168.56.11
            - 192.168.56.12
        ca: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJQekNCOHFBREFnRUNBaEVBdmVyaWZ5dGVzdC1jYQ==
        crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJLRENCMjZBREFnRUNBaEVBdmVyaWZ5dGVzdC1jcnQ=
        key: ` + TalosKey + "\n"

// Response is one recorded answer of the API server.
type Response struct {
	Status int
	Body   []byte
}

// OK is a 200 answer with a body.
func OK(body []byte) Response { return Response{Status: http.StatusOK, Body: body} }

// Status is the API server's own error answer, a Status object, as it
// gives for a missing object or a service without endpoints.
func Status(code int, reason, message string) Response {
	body, err := json.Marshal(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code,
	})
	if err != nil {
		panic(err)
	}
	return Response{Status: code, Body: body}
}

// Healthy is what the API server of a healthy lab answers, by request URI.
func Healthy() map[string]Response {
	return map[string]Response{
		PathNodes:          OK(Fixture("nodes-healthy.json")),
		PathCiliumAgent:    OK(Fixture("cilium-daemonset-ready.json")),
		PathCiliumOperator: OK(Fixture("cilium-operator-available.json")),
		PathPromTargets:    OK(Fixture("prometheus-targets-up.json")),
		PathLokiReady:      OK([]byte("ready\n")),
		PathGrafanaHealth:  OK(Fixture("grafana-health-ok.json")),
	}
}

// Server is a fake Kubernetes API server over TLS that wants Token.
type Server struct {
	*httptest.Server
}

// NewServer serves the healthy lab with overrides replacing some answers;
// it is closed when the test ends. Requests for other URIs get a 404 Status
// and requests without the token a 401, as from a real API server.
func NewServer(t testing.TB, overrides map[string]Response) *Server {
	routes := Healthy()
	maps.Copy(routes, overrides)
	return NewHandlerServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, ok := routes[r.RequestURI]
		if !ok {
			resp = Status(http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		}
		resp.Write(w)
	}))
}

// NewHandlerServer is a fake API server whose authenticated requests h
// answers, for tests of clients that need more than fixed GET answers
// (a login, a query string); it is closed when the test ends. Like the
// real API server, it answers 401 to a request without the token and
// takes the Authorization header off the requests it passes on.
func NewHandlerServer(t testing.TB, h http.Handler) *Server {
	s := &Server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+Token {
			Status(http.StatusUnauthorized, "Unauthorized", "Unauthorized").Write(w)
			return
		}
		// kube-apiserver drops the header once it has authenticated
		// the client (k8s.io/apiserver pkg/endpoints/filters/authentication.go),
		// so a proxied service never sees it.
		r.Header.Del("Authorization")
		h.ServeHTTP(w, r)
	}))
	// The client dials connections in parallel for concurrent checks and
	// some are still in their handshake when the test closes the server;
	// the errors that logs are noise.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// Write sends the answer, typed as JSON when its body is JSON.
func (resp Response) Write(w http.ResponseWriter) {
	if json.Valid(resp.Body) {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// Kubeconfig is a kubeconfig for the server in the layout Talos writes,
// trusting the server's certificate and authenticating with Token.
func (s *Server) Kubeconfig() string {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
    - name: sre-lab
      cluster:
        server: %s
        certificate-authority-data: %s
contexts:
    - name: admin@sre-lab
      context:
        cluster: sre-lab
        namespace: default
        user: admin@sre-lab
current-context: admin@sre-lab
users:
    - name: admin@sre-lab
      user:
        token: %s
`, s.URL, base64.StdEncoding.EncodeToString(ca), Token)
}

// StackOutputs is what `pulumi stack output --json --show-secrets` prints
// for the local lab whose API server the kubeconfig reaches.
func StackOutputs(kubeconfig string) []byte {
	type node struct {
		Name      string `json:"name"`
		Role      string `json:"role"`
		PrivateIP string `json:"privateIp"`
		PublicIP  string `json:"publicIp"`
	}
	out, err := json.MarshalIndent(map[string]any{
		"environment": "local",
		"endpoint":    "https://192.168.56.10:6443",
		"nodes": []node{
			{"talos-cp-01", "controlplane", "192.168.56.10", ""},
			{"talos-cp-02", "controlplane", "192.168.56.11", ""},
			{"talos-cp-03", "controlplane", "192.168.56.12", ""},
			{"talos-worker-01", "worker", "192.168.56.20", ""},
			{"talos-worker-02", "worker", "192.168.56.21", ""},
		},
		"kubeconfig":           kubeconfig,
		"talosconfig":          Talosconfig,
		"grafanaAdminPassword": GrafanaAdminPassword,
		"ingress":              "192.168.56.10",
		"urls":                 map[string]string{"grafana": "https://grafana.localhost"},
		"estimatedMonthlyCost": "local: no cloud cost",
	}, "", "  ")
	if err != nil {
		panic(err)
	}
	return out
}

// Runner stands in for pulumi and talosctl and records how it was called.
type Runner struct {
	// Stack and StackErr are pulumi's answer.
	Stack    []byte
	StackErr error
	// Talos and TalosErr are talosctl's answer.
	Talos    []byte
	TalosErr error

	mu    sync.Mutex
	calls [][]string
}

// NewRunner answers as the healthy lab behind kubeconfig does.
func NewRunner(kubeconfig string) *Runner {
	return &Runner{Stack: StackOutputs(kubeconfig), Talos: Fixture("talos-services-healthy.json")}
}

// Run has verify.Runner's signature.
func (r *Runner) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, append([]string{name}, args...))
	switch name {
	case "pulumi":
		return r.Stack, r.StackErr
	case "talosctl":
		return r.Talos, r.TalosErr
	}
	return nil, fmt.Errorf("%s: executable file not found in $PATH", name)
}

// Calls are the command lines run so far, program name first.
func (r *Runner) Calls() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.calls...)
}
