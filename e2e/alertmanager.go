package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/your-org/sre-lab/verify"
)

// watchdog is kube-prometheus-stack's alert that fires all the time, so
// that its arrival proves the path from rule evaluation in Prometheus to
// Alertmanager works.
const watchdog = "Watchdog"

// alertmanager passes when Alertmanager answers its status API with its
// configuration loaded and holds the Watchdog alert Prometheus sends.
func alertmanager(kube *verify.KubeClient) verify.Check {
	return verify.Check{Name: "alertmanager", Run: func(ctx context.Context) (string, error) {
		var status struct {
			Cluster struct {
				Status string `json:"status"`
			} `json:"cluster"`
			Config struct {
				Original string `json:"original"`
			} `json:"config"`
			VersionInfo struct {
				Version string `json:"version"`
			} `json:"versionInfo"`
		}
		if err := getJSON(ctx, kube, pathAlertStatus, &status); err != nil {
			return "", fmt.Errorf("status: %w", err)
		}
		if status.Config.Original == "" {
			return "", fmt.Errorf("status: Alertmanager %s answers without a configuration", status.VersionInfo.Version)
		}
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		}
		if err := getJSON(ctx, kube, pathAlertsCurrent, &alerts); err != nil {
			return "", fmt.Errorf("alerts: %w", err)
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == watchdog {
				return fmt.Sprintf("Alertmanager %s (cluster %s), %d alerts, %s %s",
					status.VersionInfo.Version, status.Cluster.Status, len(alerts), watchdog, a.Status.State), nil
			}
		}
		return "", fmt.Errorf("no %s alert among %d: Prometheus is not evaluating the default rules or not sending to Alertmanager", watchdog, len(alerts))
	}}
}

// getJSON fetches path and decodes a 200 answer into v.
func getJSON(ctx context.Context, kube *verify.KubeClient, path string, v any) error {
	status, body, err := kube.Get(ctx, path)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return errors.New(verify.Describe(status, body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}
