// Package drilltest is a stand-in lab for testing drill runs offline: the
// Kubernetes API a drill changes, and Prometheus and Grafana behind the API
// server's service proxy, answering in the shapes those APIs give, with a
// record of every request. It runs behind verifytest's fake API server,
// which checks the bearer token and strips it as kube-apiserver does.
package drilltest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/your-org/sre-lab/verify/verifytest"
)

// Paths of the stand-in, written out rather than imported from the code
// under test, so that a typo there fails the tests.
const (
	PathDemoPods    = "/api/v1/namespaces/apps/pods?labelSelector=app.kubernetes.io%2Fname%3Dpodinfo"
	PathRelayPods   = "/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dhubble-relay"
	PathNodes       = "/api/v1/nodes"
	PathChaos       = "/apis/chaos-mesh.org/v1alpha1/namespaces/apps/"
	PathAlerts      = "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-prometheus:9090/proxy/api/v1/alerts"
	PathGrafana     = "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-grafana:80/proxy"
	PathLogin       = PathGrafana + "/login"
	PathAnnotations = PathGrafana + "/api/annotations"
)

// AnnotationID is the id Grafana gives the drill's annotation.
const AnnotationID = 42

// sessionCookie is what a login with the right password sets.
const sessionCookie = "grafana_session=drilltest-session"

// Request is one request the stand-in received.
type Request struct {
	Method, URI, Body string
	Header            http.Header
}

// String is "METHOD URI", the form tests compare sequences in.
func (r Request) String() string { return r.Method + " " + r.URI }

// Lab is the stand-in. Its zero value is not usable; make it with NewLab.
type Lab struct {
	// Password is the Grafana admin password logins must bring.
	Password string
	// Alert holds the labels of the alert Prometheus reports, firing from
	// the FireAt-th look at the alerts on (1 is the first); 0 never.
	Alert  map[string]string
	FireAt int
	// Override answers "METHOD URI" in place of the stand-in.
	Override map[string]verifytest.Response
	// OnRequest sees every request before it is answered.
	OnRequest func(Request)

	mu       sync.Mutex
	requests []Request
	looks    int
}

// NewLab is a healthy lab whose Grafana takes password.
func NewLab(password string) *Lab {
	return &Lab{Password: password, Override: map[string]verifytest.Response{}}
}

// Start serves the lab behind verifytest's fake API server, closed when
// the test ends.
func (l *Lab) Start(t testing.TB) *verifytest.Server {
	return verifytest.NewHandlerServer(t, l)
}

// Requests are the requests so far, in order.
func (l *Lab) Requests() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Request(nil), l.requests...)
}

// Changes are the requests so far that change the lab or Grafana, as
// "METHOD URI": what a drill did and undid.
func (l *Lab) Changes() []string {
	var out []string
	for _, r := range l.Requests() {
		if r.Method != http.MethodGet && r.URI != PathLogin {
			out = append(out, r.String())
		}
	}
	return out
}

// ServeHTTP records and answers one request.
func (l *Lab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{Method: r.Method, URI: r.RequestURI, Body: string(body), Header: r.Header.Clone()}
	l.mu.Lock()
	l.requests = append(l.requests, req)
	if req.URI == PathAlerts {
		l.looks++
	}
	looks := l.looks
	l.mu.Unlock()
	if l.OnRequest != nil {
		l.OnRequest(req)
	}
	if resp, ok := l.Override[req.String()]; ok {
		resp.Write(w)
		return
	}
	resp, header := l.answer(req, looks)
	for k, v := range header {
		w.Header()[k] = v
	}
	resp.Write(w)
}

// answer is the stand-in's own answer to req, with any headers beyond the
// content type.
func (l *Lab) answer(req Request, looks int) (verifytest.Response, http.Header) {
	if req.Method == http.MethodPost && req.URI == PathLogin {
		return l.login(req)
	}
	switch {
	case req.Method == http.MethodGet && req.URI == PathDemoPods:
		return ok(podList("apps", "podinfo-7d9c5b8f6-abcde", "podinfo-7d9c5b8f6-fghij")), nil
	case req.Method == http.MethodGet && req.URI == PathRelayPods:
		return ok(podList("kube-system", "hubble-relay-6b7c9d8f5-q2w3e")), nil
	case req.Method == http.MethodGet && req.URI == PathNodes:
		return verifytest.OK([]byte(nodes)), nil
	case req.Method == http.MethodPatch && strings.HasPrefix(req.URI, PathNodes+"/"):
		return ok(map[string]any{"kind": "Node", "metadata": map[string]any{"name": strings.TrimPrefix(req.URI, PathNodes+"/")}}), nil
	case req.Method == http.MethodPost && strings.HasSuffix(req.URI, "/eviction"):
		return verifytest.Response{Status: http.StatusCreated, Body: mustJSON(map[string]any{"kind": "Status", "status": "Success", "code": 201})}, nil
	case req.Method == http.MethodPost && strings.HasPrefix(req.URI, PathChaos):
		return verifytest.Response{Status: http.StatusCreated, Body: []byte(req.Body)}, nil
	case req.Method == http.MethodDelete && strings.HasPrefix(req.URI, PathChaos):
		return ok(map[string]any{"kind": "Status", "status": "Success"}), nil
	case req.Method == http.MethodGet && req.URI == PathAlerts:
		return ok(l.alerts(looks)), nil
	case strings.HasPrefix(req.URI, PathAnnotations):
		return l.annotation(req), nil
	}
	return verifytest.Status(http.StatusNotFound, "NotFound", "the server could not find the requested resource"), nil
}

// alerts is Prometheus's answer to the looks-th look: the always-firing
// Watchdog, the expected alert pending before FireAt and firing from it.
func (l *Lab) alerts(looks int) map[string]any {
	list := []any{map[string]any{
		"labels": map[string]string{"alertname": "Watchdog", "severity": "none"}, "state": "firing",
		"activeAt": "2026-01-01T00:00:00Z", "value": "1e+00",
	}}
	if l.Alert != nil && l.FireAt > 0 {
		state := "pending"
		if looks >= l.FireAt {
			state = "firing"
		}
		list = append(list, map[string]any{"labels": l.Alert, "state": state, "activeAt": "2026-01-01T00:00:00Z", "value": "1e+00"})
	}
	return map[string]any{"status": "success", "data": map[string]any{"alerts": list}}
}

// login sets the session cookie for the right password, as Grafana's
// /login does.
func (l *Lab) login(req Request) (verifytest.Response, http.Header) {
	var creds struct{ User, Password string }
	if json.Unmarshal([]byte(req.Body), &creds) != nil || creds.User != "admin" || creds.Password != l.Password {
		return verifytest.Response{Status: http.StatusUnauthorized, Body: []byte(`{"message":"Invalid username or password"}`)}, nil
	}
	return verifytest.Response{Status: http.StatusOK, Body: []byte(`{"message":"Logged in"}`)},
		http.Header{"Set-Cookie": {sessionCookie + "; Path=/; HttpOnly"}}
}

// annotation answers Grafana's annotation API for a logged-in session.
func (l *Lab) annotation(req Request) verifytest.Response {
	if req.Header.Get("Cookie") != sessionCookie {
		return verifytest.Response{Status: http.StatusUnauthorized, Body: []byte(`{"message":"Unauthorized"}`)}
	}
	switch {
	case req.Method == http.MethodPost && req.URI == PathAnnotations:
		return ok(map[string]any{"message": "Annotation added", "id": AnnotationID})
	case req.Method == http.MethodPatch && req.URI == fmt.Sprintf("%s/%d", PathAnnotations, AnnotationID):
		return ok(map[string]any{"message": "Annotation patched"})
	}
	return verifytest.Response{Status: http.StatusNotFound, Body: []byte(`{"message":"Annotation not found"}`)}
}

// nodes are a lab's nodes: a tainted control plane, two workers pods can
// go to and one cordoned before the drill, which a drain must leave so.
const nodes = `{"kind":"NodeList","apiVersion":"v1","items":[
 {"metadata":{"name":"talos-cp-01"},"spec":{"taints":[{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}]}},
 {"metadata":{"name":"talos-worker-01"},"spec":{}},
 {"metadata":{"name":"talos-worker-02"},"spec":{"taints":[{"key":"example.com/slow","effect":"PreferNoSchedule"}]}},
 {"metadata":{"name":"talos-worker-03"},"spec":{"unschedulable":true,"taints":[{"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"}]}}
]}`

func podList(namespace string, names ...string) map[string]any {
	items := make([]any, len(names))
	for i, n := range names {
		items[i] = map[string]any{"metadata": map[string]any{"name": n, "namespace": namespace}}
	}
	return map[string]any{"kind": "PodList", "apiVersion": "v1", "items": items}
}

func ok(v any) verifytest.Response { return verifytest.OK(mustJSON(v)) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Clock is a clock whose Sleep returns at once, having moved the time on;
// it starts at a fixed instant.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at 2026-01-01 00:00 UTC.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the time on by d unless ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return nil
}
