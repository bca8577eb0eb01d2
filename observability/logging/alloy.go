package logging

import (
	"fmt"
	"strings"

	"github.com/your-org/sre-lab/infra"
)

// Loki labels every pipeline sets; the runbooks and dashboards query by
// them.
const (
	// JobTalos marks Talos's own service and kernel logs.
	JobTalos = "talos"
	// JobEvents marks Kubernetes events.
	JobEvents = "kubernetes-events"
)

// PodLogsConfig is the Alloy configuration of the node agent: it tails the
// container logs of the pods on its own node from /var/log/pods, labelled
// by namespace, pod, container, app and node, and pushes them to pushURL.
func PodLogsConfig(pushURL string) string {
	return `// Pods on this node only: every node runs its own agent.
discovery.kubernetes "pods" {
  role = "pod"
  selectors {
    role  = "pod"
    field = "spec.nodeName=" + sys.env("HOSTNAME")
  }
}

discovery.relabel "pods" {
  targets = discovery.kubernetes.pods.targets

  rule {
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_node_name"]
    target_label  = "node"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    target_label  = "app"
  }
  rule {
    source_labels = ["__meta_kubernetes_namespace", "__meta_kubernetes_pod_container_name"]
    separator     = "/"
    target_label  = "job"
  }
  // The kubelet writes /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log.
  rule {
    source_labels = ["__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_container_name"]
    separator     = "/"
    target_label  = "__path__"
    replacement   = "/var/log/pods/*$1/*.log"
  }
}

local.file_match "pods" {
  path_targets = discovery.relabel.pods.output
}

loki.source.file "pods" {
  targets    = local.file_match.pods.targets
  forward_to = [loki.process.pods.receiver]
}

// containerd writes the CRI format: time, stream, flags, then the line.
loki.process "pods" {
  stage.cri {}
  forward_to = [loki.write.default.receiver]
}
` + writeBlock(pushURL)
}

// TalosIdleTimeout is how long the receiver keeps a silent Talos
// connection open. Alloy closes one idle for two minutes by default
// (grafana/alloy internal/component/loki/source/syslog/internal/syslogtarget/syslogtarget.go,
// DefaultIdleTimeout), and Talos learns of the close only when a write
// fails, so the first line written after it is lost
// (siderolabs/talos internal/app/machined/pkg/runtime/logging/sender_jsonlines.go).
// The kernel stream is silent for hours on a healthy node. A dead peer is
// still found: Go enables TCP keepalives on both ends, Alloy's listener
// and Talos's dialer.
const TalosIdleTimeout = "8760h"

// ReceiverConfig is the Alloy configuration of the cluster-wide receiver:
// Kubernetes events, watched once for the whole cluster, and the
// newline-delimited JSON Talos sends over TCP of its services and kernel.
// The syslog source's raw format reads a TCP line that does not open
// with a syslog priority or length up to the newline and keeps it whole
// (grafana/alloy internal/component/loki/source/syslog/internal/syslogtarget/transport.go,
// handleConnection; syslogparser/rawparser.go); a JSON line opens with "{".
func ReceiverConfig(pushURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `loki.source.kubernetes_events "events" {
  job_name   = %q
  log_format = "logfmt"
  forward_to = [loki.write.default.receiver]
}

// Talos sends one JSON object per line over TCP. The raw format splits a
// TCP stream at newlines and keeps each line as it is.
loki.source.syslog "talos" {
`, JobEvents)
	for _, l := range []struct {
		port   int
		source string
	}{{infra.TalosServiceLogsPort, "service"}, {infra.TalosKernelLogsPort, "kernel"}} {
		fmt.Fprintf(&b, `  listener {
    address       = "0.0.0.0:%d"
    protocol      = "tcp"
    syslog_format = "raw"
    idle_timeout  = %q
    labels        = { job = %q, source = %q }
  }
`, l.port, TalosIdleTimeout, JobTalos, l.source)
	}
	b.WriteString(`  relabel_rules = loki.relabel.talos.rules
  forward_to    = [loki.process.talos.receiver]
}

// Kernel lines name no node. The address each node connects from tells
// nodes apart, but it is the node's cilium_host address, not its node IP,
// so it is kept as "sender", never as the node.
loki.relabel "talos" {
  forward_to = []
  rule {
    source_labels = ["__syslog_connection_ip_address"]
    target_label  = "sender"
  }
}

// Service lines carry the node's name, a tag its Talos config adds.
loki.process "talos" {
  stage.json {
    expressions = {
      node    = "node",
      service = "\"talos-service\"",
      level   = "\"talos-level\"",
      time    = "\"talos-time\"",
    }
  }
  stage.labels {
    values = { node = "", service = "", level = "" }
  }
  stage.timestamp {
    source = "time"
    format = "RFC3339Nano"
  }
  forward_to = [loki.write.default.receiver]
}
`)
	return b.String() + writeBlock(pushURL)
}

func writeBlock(pushURL string) string {
	return fmt.Sprintf(`
loki.write "default" {
  endpoint {
    url = %q
  }
}
`, pushURL)
}
