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

	"github.com/your-org/sre-lab/observability/dashboards"
	"github.com/your-org/sre-lab/observability/logging"
	"github.com/your-org/sre-lab/verify"
)

// grafanaGet fetches a Grafana API path in the session and decodes its
// JSON answer into v whatever the status, which it returns: Grafana
// explains its failures in the same JSON.
func grafanaGet(ctx context.Context, g *verify.Grafana, path string, v any) (int, error) {
	reply, err := g.Do(ctx, http.MethodGet, path, nil)
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
func grafanaDatasources(g *verify.Grafana) verify.Check {
	return verify.Check{Name: "grafana datasources", Run: func(ctx context.Context) (string, error) {
		var problems, healthy []string
		for _, uid := range labDatasources {
			var health struct {
				Status  string `json:"status"`
				Message string `json:"message"`
			}
			status, err := grafanaGet(ctx, g, "/api/datasources/uid/"+url.PathEscape(uid)+"/health", &health)
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
func grafanaDashboards(g *verify.Grafana, boards []dashboards.Dashboard) verify.Check {
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
			status, err := grafanaGet(ctx, g, "/api/dashboards/uid/"+url.PathEscape(d.UID), &answer)
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
