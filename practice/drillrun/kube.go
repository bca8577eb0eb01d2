package drillrun

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/your-org/sre-lab/practice/drills"
	"github.com/your-org/sre-lab/practice/slo"
	"github.com/your-org/sre-lab/verify"
)

// contentJSON is the body type of creations and evictions.
var contentJSON = http.Header{"Content-Type": {"application/json"}}

// mergePatch is the body type of the cordon: a JSON merge patch sets
// spec.unschedulable without a read-modify-write of the node.
var mergePatch = http.Header{"Content-Type": {"application/merge-patch+json"}}

// call sends one request under the runner's request timeout and returns
// the answer when its status is one of ok.
func (r *Runner) call(ctx context.Context, method, path string, header http.Header, body []byte, ok ...int) (verify.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, r.RequestTimeout)
	defer cancel()
	reply, err := r.Kube.Do(ctx, method, path, header, body)
	if err != nil {
		return reply, err
	}
	if !slices.Contains(ok, reply.Status) {
		return reply, errors.New(verify.Describe(reply.Status, reply.Body))
	}
	return reply, nil
}

// getJSON fetches path and decodes a 200 answer into v.
func (r *Runner) getJSON(ctx context.Context, path string, v any) error {
	reply, err := r.call(ctx, http.MethodGet, path, nil, nil, http.StatusOK)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(reply.Body, v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// podsPath lists the pods selector matches in namespace.
func podsPath(namespace string, selector map[string]string) string {
	terms := make([]string, 0, len(selector))
	for _, k := range slices.Sorted(maps.Keys(selector)) {
		terms = append(terms, k+"="+selector[k])
	}
	return "/api/v1/namespaces/" + namespace + "/pods?" + url.Values{"labelSelector": {strings.Join(terms, ",")}}.Encode()
}

// podList is the part of a pod list the runner reads.
type podList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	} `json:"items"`
}

// demoRuns passes when the demo has pods: every drill acts on it, and a
// fault without a target would time nothing.
func (r *Runner) demoRuns(ctx context.Context) error {
	var pods podList
	selector := map[string]string{slo.DemoAppLabel: slo.DemoApp}
	if err := r.getJSON(ctx, podsPath(slo.DemoNamespace, selector), &pods); err != nil {
		return fmt.Errorf("list the demo's pods: %w", err)
	}
	if len(pods.Items) == 0 {
		return fmt.Errorf("no pod with label %s=%s in namespace %s: is the practice layer on (sre-lab:practice)?",
			slo.DemoAppLabel, slo.DemoApp, slo.DemoNamespace)
	}
	return nil
}

// inject starts d's fault, recording in undo how to end each part before
// it is made, so that a part whose request was cut short is ended too.
func (r *Runner) inject(ctx context.Context, d drills.Drill, undo *undoList) error {
	if d.Drain != nil {
		return r.drain(ctx, d, undo)
	}
	for _, o := range d.Objects {
		body, err := o.JSON(drills.Namespace)
		if err != nil {
			return err
		}
		ref := fmt.Sprintf("%s %s/%s", o.Kind, drills.Namespace, o.Name)
		itemPath := o.Path(drills.Namespace) + "/" + o.Name
		undo.add("delete "+ref, fmt.Sprintf("kubectl -n %s delete %s.%s %s", drills.Namespace, o.Resource, drills.ChaosGroup, o.Name),
			func(ctx context.Context) error {
				// Gone already is as good as deleted.
				_, err := r.call(ctx, http.MethodDelete, itemPath, nil, nil, http.StatusOK, http.StatusAccepted, http.StatusNotFound)
				return err
			})
		reply, err := r.call(ctx, http.MethodPost, o.Path(drills.Namespace), contentJSON, body, http.StatusCreated, http.StatusOK)
		if err != nil {
			if reply.Status == http.StatusNotFound {
				err = fmt.Errorf("%w (is Chaos Mesh installed? its CRDs serve %s)", err, drills.ChaosAPIVersion)
			}
			if reply.Status == http.StatusConflict {
				// The object is not this run's: leave it alone.
				undo.steps = undo.steps[:len(undo.steps)-1]
				err = fmt.Errorf("%w (left by an earlier drill? kubectl -n %s delete %s.%s %s)", err, drills.Namespace, o.Resource, drills.ChaosGroup, o.Name)
			}
			return fmt.Errorf("create %s: %w", ref, err)
		}
		r.printf("drill %s: created %s", d.Name, ref)
	}
	return nil
}

// nodeList is the part of a node list the drain reads.
type nodeList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Unschedulable bool    `json:"unschedulable"`
			Taints        []taint `json:"taints"`
		} `json:"spec"`
	} `json:"items"`
}

// taint is the part of a node taint the drain reads.
type taint struct {
	Effect string `json:"effect"`
}

// keepsPodsOff reports whether a pod without tolerations stays off a node
// with the taint.
func (t taint) keepsPodsOff() bool { return t.Effect == "NoSchedule" || t.Effect == "NoExecute" }

// schedulable are the nodes a pod without tolerations can be scheduled
// on: not cordoned, and without a NoSchedule or NoExecute taint (such as
// the one on Talos's control planes).
func (l nodeList) schedulable() []string {
	var out []string
	for _, n := range l.Items {
		if !n.Spec.Unschedulable && !slices.ContainsFunc(n.Spec.Taints, taint.keepsPodsOff) {
			out = append(out, n.Metadata.Name)
		}
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}

// drain cordons every node pods could move to and evicts the drill's
// pods. Only the nodes this run cordoned are uncordoned again.
func (r *Runner) drain(ctx context.Context, d drills.Drill, undo *undoList) error {
	var nodes nodeList
	if err := r.getJSON(ctx, "/api/v1/nodes", &nodes); err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	targets := nodes.schedulable()
	if len(targets) == 0 {
		return errors.New("no schedulable node to cordon")
	}
	for _, node := range targets {
		path := "/api/v1/nodes/" + node
		undo.add("uncordon node "+node, "kubectl uncordon "+node, func(ctx context.Context) error {
			_, err := r.call(ctx, http.MethodPatch, path, mergePatch, []byte(`{"spec":{"unschedulable":false}}`), http.StatusOK)
			return err
		})
		if _, err := r.call(ctx, http.MethodPatch, path, mergePatch, []byte(`{"spec":{"unschedulable":true}}`), http.StatusOK); err != nil {
			return fmt.Errorf("cordon node %s: %w", node, err)
		}
		r.printf("drill %s: cordoned node %s", d.Name, node)
	}

	for _, set := range d.Drain.Evict {
		if err := r.evict(ctx, d, set); err != nil {
			return err
		}
	}
	return nil
}

// evict evicts the pods of set through the eviction API, which honours
// PodDisruptionBudgets as kubectl drain does. The subresource takes a
// policy/v1 Eviction naming the pod and answers 429 when a budget forbids
// it now (Kubernetes docs, "API-initiated Eviction"); that pod is left
// running, where kubectl drain would keep retrying.
func (r *Runner) evict(ctx context.Context, d drills.Drill, set drills.PodSet) error {
	var pods podList
	if err := r.getJSON(ctx, podsPath(set.Namespace, set.Selector), &pods); err != nil {
		return fmt.Errorf("list pods to evict in %s: %w", set.Namespace, err)
	}
	for _, p := range pods.Items {
		ref := set.Namespace + "/" + p.Metadata.Name
		body, err := json.Marshal(map[string]any{
			"apiVersion": "policy/v1",
			"kind":       "Eviction",
			"metadata":   map[string]string{"name": p.Metadata.Name, "namespace": set.Namespace},
		})
		if err != nil {
			return err
		}
		path := "/api/v1/namespaces/" + set.Namespace + "/pods/" + p.Metadata.Name + "/eviction"
		reply, err := r.call(ctx, http.MethodPost, path, contentJSON, body, http.StatusCreated, http.StatusOK)
		switch {
		case reply.Status == http.StatusTooManyRequests:
			r.printf("drill %s: the disruption budget of pod %s refused its eviction: %v", d.Name, ref, err)
		case err != nil:
			return fmt.Errorf("evict pod %s: %w", ref, err)
		default:
			r.printf("drill %s: evicted pod %s", d.Name, ref)
		}
	}
	return nil
}
