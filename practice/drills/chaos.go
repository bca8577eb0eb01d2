package drills

import (
	"encoding/json"
	"fmt"
)

// Chaos Mesh's API group and version (chaos-mesh api/v1alpha1,
// groupversion_info.go).
const (
	ChaosGroup      = "chaos-mesh.org"
	ChaosAPIVersion = ChaosGroup + "/v1alpha1"
)

// ManagedBy labels every object a drill creates, so that leftovers of an
// interrupted run can be listed: kubectl get <kind> -A -l app.kubernetes.io/managed-by=sre-lab-drill.
const ManagedBy = "sre-lab-drill"

// Object is one Chaos Mesh custom resource a drill creates in the demo's
// namespace and deletes when it ends.
type Object struct {
	// Kind is the resource's kind (PodChaos, NetworkChaos...).
	Kind string
	// Resource is the kind's plural in the API's paths.
	Resource string
	// Name is the object's name.
	Name string
	// Spec is the typed spec; its JSON is what the API server gets.
	Spec any
}

// Path is the collection the object is created in, in namespace.
func (o Object) Path(namespace string) string {
	return "/apis/" + ChaosAPIVersion + "/namespaces/" + namespace + "/" + o.Resource
}

// JSON is the whole object as the API server takes it.
func (o Object) JSON(namespace string) ([]byte, error) {
	b, err := json.Marshal(map[string]any{
		"apiVersion": ChaosAPIVersion,
		"kind":       o.Kind,
		"metadata": map[string]any{
			"name":      o.Name,
			"namespace": namespace,
			"labels":    map[string]string{"app.kubernetes.io/managed-by": ManagedBy},
		},
		"spec": o.Spec,
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
	}
	return b, nil
}

// The spec types below mirror the fields of Chaos Mesh's v1alpha1 API the
// drills use, with the API's JSON names (chaos-mesh api/v1alpha1:
// selector.go, podchaos_types.go, networkchaos_types.go,
// podnetworkchaos_types.go for the tc parameters, stresschaos_types.go,
// dnschaos_type.go). Embedded structs stand for the API's inline ones.

// PodSelector picks the pods a chaos acts on, and how many of them (Mode:
// one, all, fixed, fixed-percent, random-max-percent).
type PodSelector struct {
	Selector PodSelectorSpec `json:"selector"`
	Mode     string          `json:"mode"`
	Value    string          `json:"value,omitempty"`
}

// PodSelectorSpec selects pods by namespace and labels; all parts must hold.
type PodSelectorSpec struct {
	Namespaces          []string                   `json:"namespaces,omitempty"`
	LabelSelectors      map[string]string          `json:"labelSelectors,omitempty"`
	ExpressionSelectors []LabelSelectorRequirement `json:"expressionSelectors,omitempty"`
}

// LabelSelectorRequirement is Kubernetes's set-based label selector term
// (k8s.io/apimachinery meta/v1), which Chaos Mesh takes as is.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// ContainerSelector narrows a PodSelector to containers; without names
// Chaos Mesh takes each pod's first container.
type ContainerSelector struct {
	PodSelector
	ContainerNames []string `json:"containerNames,omitempty"`
}

// PodChaosSpec is a PodChaos's spec. Action pod-failure swaps the pods'
// containers for a pause image for Duration; pod-kill and container-kill
// act once.
type PodChaosSpec struct {
	ContainerSelector
	Action   string `json:"action"`
	Duration string `json:"duration,omitempty"`
}

// NetworkChaosSpec is a NetworkChaos's spec: Direction "to" shapes the
// selected pods' egress, and without a Target it shapes all of it.
type NetworkChaosSpec struct {
	PodSelector
	Action    string     `json:"action"`
	Duration  string     `json:"duration,omitempty"`
	Direction string     `json:"direction,omitempty"`
	Delay     *DelaySpec `json:"delay,omitempty"`
	Loss      *LossSpec  `json:"loss,omitempty"`
}

// DelaySpec is netem's delay: Latency and Jitter are durations.
type DelaySpec struct {
	Latency string `json:"latency"`
	Jitter  string `json:"jitter,omitempty"`
}

// LossSpec is netem's loss, a percentage as a string.
type LossSpec struct {
	Loss string `json:"loss"`
}

// StressChaosSpec is a StressChaos's spec: stressors run inside the
// selected containers' cgroups, so they compete for the containers' own
// limits.
type StressChaosSpec struct {
	ContainerSelector
	Stressors *Stressors `json:"stressors,omitempty"`
	Duration  string     `json:"duration,omitempty"`
}

// Stressors holds one or both stressors.
type Stressors struct {
	Memory *MemoryStressor `json:"memory,omitempty"`
	CPU    *CPUStressor    `json:"cpu,omitempty"`
}

// MemoryStressor allocates Size per worker; OOMScoreAdj is the stress
// process's oom_score_adj.
type MemoryStressor struct {
	Workers     int    `json:"workers"`
	Size        string `json:"size,omitempty"`
	OOMScoreAdj int    `json:"oomScoreAdj,omitempty"`
}

// CPUStressor keeps Workers busy at Load percent each.
type CPUStressor struct {
	Workers int `json:"workers"`
	Load    int `json:"load,omitempty"`
}

// DNSChaosSpec is a DNSChaos's spec: Action error fails the selected pods'
// lookups of names matching Patterns (every name when there are none).
type DNSChaosSpec struct {
	ContainerSelector
	Action   string   `json:"action"`
	Duration string   `json:"duration,omitempty"`
	Patterns []string `json:"patterns,omitempty"`
}
