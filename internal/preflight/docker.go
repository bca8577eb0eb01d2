package preflight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// dockerSocket is where Docker Engine listens unless DOCKER_HOST says
// otherwise; the Docker provider the lab's Docker backend runs on reads
// DOCKER_HOST, then DOCKER_CONTEXT, as the docker CLI does (its
// installation and configuration page in the Pulumi registry).
const dockerSocket = "/var/run/docker.sock"

// checkDocker asks the Docker Engine the provider will talk to for its
// version over the same Unix socket (Engine API GET /version, whose answer,
// SystemVersion, carries Version, ApiVersion and Os). A daemon
// that is not running, or a socket this user may not open, would otherwise
// show only once `pulumi up` reaches the first container.
func checkDocker(ctx context.Context, host Host) Result {
	r := Result{Check: "Docker", Needed: "a running Docker Engine this user may use"}
	dockerHost, _ := host.LookupEnv("DOCKER_HOST")
	if dockerContext, _ := host.LookupEnv("DOCKER_CONTEXT"); dockerContext != "" {
		r.Status, r.Measured = Unmeasured, "DOCKER_CONTEXT="+dockerContext+" chooses the daemon, which this check does not read"
		r.Fix = "make sure docker info answers in this shell"
		return r
	}
	socket := dockerSocket
	if dockerHost != "" {
		path, ok := strings.CutPrefix(dockerHost, "unix://")
		if !ok {
			r.Status, r.Measured = Unmeasured, "DOCKER_HOST="+dockerHost+" is not a Unix socket, which this check does not reach"
			r.Fix = "make sure docker info answers in this shell"
			return r
		}
		socket = path
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/version", nil)
	if err != nil {
		r.Status, r.Measured = Failed, err.Error()
		return r
	}
	resp, err := client.Do(req)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		r.Status, r.Measured = Failed, "no Docker Engine listens on "+socket
		r.Fix = "install Docker Engine (https://docs.docker.com/engine/install/) and start it: sudo systemctl enable --now docker; " +
			"if docker info answers through a context instead, export DOCKER_HOST with the socket docker context inspect names"
		return r
	case errors.Is(err, fs.ErrPermission):
		r.Status, r.Measured = Failed, "this user may not open "+socket
		r.Fix = "add yourself to the docker group (sudo usermod -aG docker $USER), then log in again"
		return r
	case err != nil:
		r.Status, r.Measured = Failed, "asking "+socket+" for its version failed: "+err.Error()
		r.Fix = "make sure docker info answers in this shell"
		return r
	}
	defer func() { _ = resp.Body.Close() }()
	var version struct {
		Version    string `json:"Version"`
		APIVersion string `json:"ApiVersion"`
		Os         string `json:"Os"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&version) != nil || version.Version == "" {
		r.Status, r.Measured = Failed, fmt.Sprintf("%s answered GET /version with %s and no version", socket, resp.Status)
		r.Fix = "make sure docker info answers in this shell"
		return r
	}
	r.Measured = fmt.Sprintf("Docker Engine %s (API %s, %s) on %s", version.Version, version.APIVersion, version.Os, socket)
	return r
}
