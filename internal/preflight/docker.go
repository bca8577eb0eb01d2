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
// otherwise. The Docker provider the lab's Docker backend runs on takes the
// daemon from DOCKER_HOST, or from DOCKER_CONTEXT, which overrides it (the
// provider's installation and configuration page and configuration
// reference in the Pulumi registry).
const dockerSocket = "/var/run/docker.sock"

// askDocker is the fix when the check cannot tell what is wrong.
const askDocker = "make sure docker info answers in this shell"

// checkDocker asks the Docker Engine the provider will talk to for its
// version over the same Unix socket (Engine API GET /version, whose answer,
// SystemVersion, carries Version, ApiVersion and Os). A daemon
// that is not running, or a socket this user may not open, would otherwise
// show only once `pulumi up` reaches the first container.
func checkDocker(ctx context.Context, host Host) Result {
	r := Result{Check: "Docker", Needed: "a running Docker Engine this user may use"}
	if dockerContext, _ := host.LookupEnv("DOCKER_CONTEXT"); dockerContext != "" {
		r.Status, r.Measured, r.Fix = Unmeasured, "DOCKER_CONTEXT="+dockerContext+" chooses the daemon, which this check does not read", askDocker
		return r
	}
	socket := dockerSocket
	if dockerHost, _ := host.LookupEnv("DOCKER_HOST"); dockerHost != "" {
		path, ok := strings.CutPrefix(dockerHost, "unix://")
		if !ok {
			r.Status, r.Measured, r.Fix = Unmeasured, "DOCKER_HOST="+dockerHost+" is not a Unix socket, which this check does not reach", askDocker
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
		r.Status, r.Measured, r.Fix = Failed, "asking "+socket+" for its version failed: "+err.Error(), askDocker
		return r
	}
	defer func() { _ = resp.Body.Close() }()
	var version struct {
		Version    string `json:"Version"`
		APIVersion string `json:"ApiVersion"`
		Os         string `json:"Os"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&version) != nil || version.Version == "" {
		r.Status, r.Measured, r.Fix = Failed, fmt.Sprintf("%s answered GET /version with %s and no version", socket, resp.Status), askDocker
		return r
	}
	r.Measured = fmt.Sprintf("Docker Engine %s (API %s, %s) on %s", version.Version, version.APIVersion, version.Os, socket)
	return r
}
