package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// requiredServices must be present per role. Talos deletes a service's
// resource when the service stops, so a crashed etcd or kubelet is not
// reported as running=false: it is simply absent, and only a list of what
// must be there catches it.
var requiredServices = map[string][]string{
	RoleControlPlane: {"etcd", "kubelet"},
	RoleWorker:       {"kubelet"},
}

// talosService is one resource of `talosctl get services -o json`: talosctl
// prints one JSON object per resource per node, the resource's metadata and
// spec (Talos' v1alpha1.ServiceSpec) plus the node it came from, exactly as
// the node was named in --nodes.
type talosService struct {
	Node     string `json:"node"`
	Metadata struct {
		ID string `json:"id"`
	} `json:"metadata"`
	Spec struct {
		Running bool `json:"running"`
		Healthy bool `json:"healthy"`
		// Unknown is set for services that have no health check
		// (the dashboard); Talos itself counts them as fine.
		Unknown bool `json:"unknown"`
	} `json:"spec"`
}

// parseTalosServices groups the services by node address and by ID. It
// returns what it parsed before any error, since talosctl's output for the
// nodes it reached is still worth judging.
func parseTalosServices(out []byte) (map[string]map[string]talosService, error) {
	byNode := map[string]map[string]talosService{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var s talosService
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			return byNode, nil
		}
		if err != nil {
			return byNode, err
		}
		if byNode[s.Node] == nil {
			byNode[s.Node] = map[string]talosService{}
		}
		byNode[s.Node][s.Metadata.ID] = s
	}
}

// talosServices passes when every node runs its required services and no
// service with a health check reports unhealthy.
func talosServices(run Runner, talosconfig string, nodes []Node) Check {
	return Check{Name: "talos services", Run: func(ctx context.Context) (string, error) {
		addrs := make([]string, len(nodes))
		for i, n := range nodes {
			addrs[i] = n.TalosAddress()
		}
		out, runErr := run(ctx, "talosctl", "--talosconfig", talosconfig,
			"--nodes", strings.Join(addrs, ","), "get", "services", "-o", "json")
		byNode, parseErr := parseTalosServices(out)

		var problems []string
		if runErr != nil {
			problems = append(problems, runErr.Error())
		}
		if parseErr != nil {
			problems = append(problems, "parse talosctl output: "+parseErr.Error())
		}
		// When talosctl reached no node at all, its own error says why;
		// repeating "no services" for every node adds nothing.
		if len(byNode) == 0 && len(problems) > 0 {
			return "", errors.New(strings.Join(problems, "; "))
		}

		total := 0
		for _, n := range nodes {
			services := byNode[n.TalosAddress()]
			if len(services) == 0 {
				problems = append(problems, fmt.Sprintf("%s (%s): no services reported", n.Name, n.TalosAddress()))
				continue
			}
			total += len(services)
			for _, id := range slices.Sorted(maps.Keys(services)) {
				spec := services[id].Spec
				switch {
				case !spec.Running:
					problems = append(problems, n.Name+"/"+id+" not running")
				case !spec.Healthy && !spec.Unknown:
					problems = append(problems, n.Name+"/"+id+" not healthy")
				}
			}
			for _, id := range requiredServices[n.Role] {
				if _, ok := services[id]; !ok {
					problems = append(problems, n.Name+"/"+id+" missing")
				}
			}
		}
		if len(problems) > 0 {
			return "", errors.New(strings.Join(problems, "; "))
		}
		return fmt.Sprintf("%d nodes, %d services running, none unhealthy", len(nodes), total), nil
	}}
}
