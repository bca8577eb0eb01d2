package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/your-org/sre-lab/observability/dashboards"
	"github.com/your-org/sre-lab/observability/logging"
	"github.com/your-org/sre-lab/verify"
)

// grafanaAdmin is the admin user the lab's Grafana admin secret names.
const grafanaAdmin = "admin"

// grafana is a logged-in session of the lab's Grafana. Basic auth cannot
// reach Grafana through the API server's proxy, which takes the
// Authorization header for itself, so the session logs in with the admin
// password once and sends Grafana's session cookie instead.
type grafana struct {
	kube     *verify.KubeClient
	password verify.Secret

	mu     sync.Mutex
	cookie string
}

func newGrafana(kube *verify.KubeClient, password verify.Secret) *grafana {
	return &grafana{kube: kube, password: password}
}

// login returns the session's cookie header, logging in on first use.
// The checks run concurrently; the lock makes them share one login.
func (g *grafana) login(ctx context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cookie != "" {
		return g.cookie, nil
	}
	if g.password == "" {
		return "", errors.New("no Grafana admin password: the stack output grafanaAdminPassword is empty")
	}
	body, err := json.Marshal(map[string]string{"user": grafanaAdmin, "password": string(g.password)})
	if err != nil {
		return "", err
	}
	reply, err := g.kube.Do(ctx, http.MethodPost, pathGrafana+"/login",
		http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		return "", fmt.Errorf("grafana login: %w", err)
	}
	if reply.Status != http.StatusOK {
		return "", fmt.Errorf("grafana login as %s: %s", grafanaAdmin, verify.Describe(reply.Status, reply.Body))
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

// get fetches a Grafana API path in the session and decodes its JSON
// answer into v whatever the status, which it returns: Grafana explains
// its failures in the same JSON.
func (g *grafana) get(ctx context.Context, path string, v any) (int, error) {
	cookie, err := g.login(ctx)
	if err != nil {
		return 0, err
	}
	reply, err := g.kube.Do(ctx, http.MethodGet, pathGrafana+path, http.Header{"Cookie": {cookie}}, nil)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(reply.Body, v); err != nil {
		return reply.Status, fmt.Errorf("%s: %s", path, verify.Describe(reply.Status, reply.Body))
	}
	return reply.Status, nil
}

// labDatasources are the datasources the lab's dashboards and runbooks
// query, by uid: kube-prometheus-stack's Prometheus and the lab's Loki.
var labDatasources = []string{dashboards.DatasourceUID, logging.DatasourceUID}

// grafanaDatasources passes when Grafana's own health check of each of
// the lab's datasources succeeds: Grafana reaches Prometheus and Loki
// and they answer it, which is what every panel needs.
func grafanaDatasources(g *grafana) verify.Check {
	return verify.Check{Name: "grafana datasources", Run: func(ctx context.Context) (string, error) {
		var problems, healthy []string
		for _, uid := range labDatasources {
			var health struct {
				Status  string `json:"status"`
				Message string `json:"message"`
			}
			status, err := g.get(ctx, "/api/datasources/uid/"+url.PathEscape(uid)+"/health", &health)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("%s: %v", uid, err))
			case status != http.StatusOK || health.Status != "OK":
				// A datasource Grafana does not know answers 404 with
				// a message and no status.
				verdict := cmp.Or(health.Status, http.StatusText(status))
				problems = append(problems, fmt.Sprintf("%s: %d %s: %s", uid, status, verdict, health.Message))
			default:
				healthy = append(healthy, uid)
			}
		}
		if len(problems) > 0 {
			return "", errors.New(strings.Join(problems, "; "))
		}
		return fmt.Sprintf("%s healthy", strings.Join(healthy, ", ")), nil
	}}
}

// grafanaDashboards passes when Grafana serves each of the lab's
// dashboards under its uid, with its title, in its folder: the sidecar
// found the ConfigMap and Grafana imported the JSON.
func grafanaDashboards(g *grafana, boards []dashboards.Dashboard) verify.Check {
	return verify.Check{Name: "grafana dashboards", Run: func(ctx context.Context) (string, error) {
		var problems, loaded []string
		for _, d := range boards {
			var answer struct {
				Message   string `json:"message"`
				Dashboard struct {
					UID   string `json:"uid"`
					Title string `json:"title"`
				} `json:"dashboard"`
				Meta struct {
					FolderTitle string `json:"folderTitle"`
				} `json:"meta"`
			}
			status, err := g.get(ctx, "/api/dashboards/uid/"+url.PathEscape(d.UID), &answer)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("%s: %v", d.UID, err))
			case status != http.StatusOK:
				problems = append(problems, fmt.Sprintf("%s: %d %s: %s", d.UID, status, http.StatusText(status), answer.Message))
			case answer.Dashboard.Title != d.Title || answer.Meta.FolderTitle != d.Folder:
				problems = append(problems, fmt.Sprintf("%s is %q in folder %q, want %q in %q",
					d.UID, answer.Dashboard.Title, answer.Meta.FolderTitle, d.Title, d.Folder))
			default:
				loaded = append(loaded, d.Folder+"/"+d.Title)
			}
		}
		if len(problems) > 0 {
			return "", errors.New(strings.Join(problems, "; "))
		}
		return fmt.Sprintf("%d loaded: %s", len(loaded), strings.Join(loaded, ", ")), nil
	}}
}
