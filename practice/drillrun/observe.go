package drillrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/your-org/sre-lab/practice/drills"
	"github.com/your-org/sre-lab/verify"
)

// pathAlerts is Prometheus's list of the alerts its rules hold, pending
// and firing (prometheus docs/querying/api.md, "Alerts").
const pathAlerts = verify.PrometheusProxy + "/api/v1/alerts"

// firing reports whether Prometheus holds d's alert, with d's labels, in
// state firing.
func (r *Runner) firing(ctx context.Context, d drills.Drill) (bool, error) {
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := r.getJSON(ctx, pathAlerts, &answer); err != nil {
		return false, fmt.Errorf("alerts from Prometheus: %w", err)
	}
	if answer.Status != "success" {
		return false, fmt.Errorf("alerts from Prometheus: status %q: %s", answer.Status, answer.Error)
	}
	for _, a := range answer.Data.Alerts {
		if a.State != "firing" || a.Labels["alertname"] != d.Alert {
			continue
		}
		match := true
		for k, v := range d.Labels {
			match = match && a.Labels[k] == v
		}
		if match {
			return true, nil
		}
	}
	return false, nil
}

// annotationTag marks every drill's annotations, so that one Grafana
// annotation query finds them all.
const annotationTag = "sre-lab-drill"

// grafana is the drill's Grafana session, which writes its annotations.
type grafana struct{ *verify.Grafana }

// send makes one Grafana API request in the session and decodes a 200
// answer into v.
func (g grafana) send(ctx context.Context, method, path string, body, v any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	reply, err := g.Do(ctx, method, path, b)
	if err != nil {
		return err
	}
	if reply.Status != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, path, verify.Describe(reply.Status, reply.Body))
	}
	return json.Unmarshal(reply.Body, v)
}

// annotate marks the drill's start on its dashboard and returns the
// annotation's id. Grafana's annotations API takes epoch milliseconds and
// answers with the new id (Grafana docs, developer-resources/api-reference/
// http-api/api-legacy/annotations: "Create Annotation").
func (g grafana) annotate(ctx context.Context, d drills.Drill, at time.Time) (int64, error) {
	var answer struct {
		ID int64 `json:"id"`
	}
	err := g.send(ctx, http.MethodPost, "/api/annotations", map[string]any{
		"dashboardUID": d.Dashboard,
		"time":         at.UnixMilli(),
		"tags":         []string{annotationTag, d.Name},
		"text":         fmt.Sprintf("Drill %s started: expecting %s within %s. %s", d.Name, d.Expectation(), d.Within, d.Description),
	}, &answer)
	if err != nil {
		return 0, err
	}
	if answer.ID == 0 {
		return 0, errors.New("grafana created an annotation without an id")
	}
	return answer.ID, nil
}

// end turns the start annotation into a region ending at, with the
// verdict as its text (same docs, "Patch Annotation").
func (g grafana) end(ctx context.Context, id int64, at time.Time, verdict string) error {
	var answer struct {
		Message string `json:"message"`
	}
	return g.send(ctx, http.MethodPatch, "/api/annotations/"+strconv.FormatInt(id, 10), map[string]any{
		"timeEnd": at.UnixMilli(),
		"text":    verdict,
	}, &answer)
}
