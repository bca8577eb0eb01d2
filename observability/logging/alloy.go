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

// ReceiverConfig is the Alloy configuration of the cluster-wide receiver:
// Kubernetes events, watched once for the whole cluster, and the JSON
// lines Talos sends of its services and kernel, labelled by node.
func ReceiverConfig(pushURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `loki.source.kubernetes_events "events" {
  job_name   = %q
  log_format = "logfmt"
  forward_to = [loki.write.default.receiver]
}

// Talos sends one JSON object per datagram; "raw" takes it as it is.
loki.source.syslog "talos" {
`, JobEvents)
	for _, l := range []struct {
		port   int
		source string
	}{{infra.TalosServiceLogsPort, "service"}, {infra.TalosKernelLogsPort, "kernel"}} {
		fmt.Fprintf(&b, `  listener {
    address       = "0.0.0.0:%d"
    protocol      = "udp"
    syslog_format = "raw"
    labels        = { job = %q, source = %q }
  }
`, l.port, JobTalos, l.source)
	}
	b.WriteString(`  relabel_rules = loki.relabel.talos.rules
  forward_to    = [loki.process.talos.receiver]
}

// Kernel messages carry no node tag: the sender's address stands in.
loki.relabel "talos" {
  forward_to = []
  rule {
    source_labels = ["__syslog_connection_ip_address"]
    target_label  = "node_ip"
  }
}

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
