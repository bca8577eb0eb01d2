package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// GrafanaAdminUser is the admin user the lab writes into Grafana's admin
// secret (observability/monitoring); its password is the stack output
// grafanaAdminPassword.
const GrafanaAdminUser = "admin"

// Grafana is a logged-in session of the lab's Grafana, reached through the
// API server's service proxy. The proxy takes the Authorization header for
// itself, so basic auth never reaches Grafana: the session logs in once
// with the admin password and sends Grafana's session cookie instead.
// It is safe for concurrent use; concurrent checks share one login.
type Grafana struct {
	kube     *KubeClient
	password Secret

	mu     sync.Mutex
	cookie string
}

// NewGrafana is a session that logs in as GrafanaAdminUser on first use.
func NewGrafana(kube *KubeClient, password Secret) *Grafana {
	return &Grafana{kube: kube, password: password}
}

// Do sends one request to Grafana's API path in the session, with body as
// JSON when it is not nil, and returns the answer whatever its status:
// Grafana explains its failures in the body.
func (g *Grafana) Do(ctx context.Context, method, path string, body []byte) (Reply, error) {
	cookie, err := g.login(ctx)
	if err != nil {
		return Reply{}, err
	}
	header := http.Header{"Cookie": {cookie}}
	if body != nil {
		header.Set("Content-Type", "application/json")
	}
	return g.kube.Do(ctx, method, GrafanaProxy+path, header, body)
}

// login returns the session's cookie header, logging in on first use.
func (g *Grafana) login(ctx context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cookie != "" {
		return g.cookie, nil
	}
	if g.password == "" {
		return "", errors.New("no Grafana admin password: the stack output grafanaAdminPassword is empty")
	}
	body, err := json.Marshal(map[string]string{"user": GrafanaAdminUser, "password": string(g.password)})
	if err != nil {
		return "", err
	}
	reply, err := g.kube.Do(ctx, http.MethodPost, GrafanaProxy+"/login",
		http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		return "", fmt.Errorf("grafana login: %w", err)
	}
	if reply.Status != http.StatusOK {
		return "", fmt.Errorf("grafana login as %s: %s", GrafanaAdminUser, Describe(reply.Status, reply.Body))
	}
	cookies := (&http.Response{Header: reply.Header}).Cookies()
	if len(cookies) == 0 {
		return "", errors.New("grafana login answered 200 without a session cookie")
	}
	pairs := make([]string, len(cookies))
	for i, c := range cookies {
		pairs[i] = c.Name + "=" + c.Value
	}
	g.cookie = strings.Join(pairs, "; ")
	return g.cookie, nil
}
