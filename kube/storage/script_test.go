package storage

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/internal/apitest"
)

// releaseTools are the only programs on the release script's PATH.
var releaseTools = []string{"curl", "date", "mktemp", "rm", "sed", "sleep", "tr"}

// The objects the stand-in serves carry the fields of k8s.io/api
// core/v1/types.go in their order and with their JSON names: the name
// first in the metadata, the annotations (kubectl's last-applied
// configuration quoting the whole object, class included), owner
// references and managedFields ("f:storageClassName") after it, a
// volume's claim reference (its own namespace and name) in its spec. A
// list's items carry no kind, as the API server writes them.
type (
	ownerReference struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		UID        string `json:"uid"`
	}
	managedField struct {
		Manager  string         `json:"manager"`
		FieldsV1 map[string]any `json:"fieldsV1"`
	}
	objectMeta struct {
		Name              string            `json:"name"`
		Namespace         string            `json:"namespace,omitempty"`
		UID               string            `json:"uid"`
		DeletionTimestamp string            `json:"deletionTimestamp,omitempty"`
		Annotations       map[string]string `json:"annotations,omitempty"`
		OwnerReferences   []ownerReference  `json:"ownerReferences,omitempty"`
		Finalizers        []string          `json:"finalizers,omitempty"`
		ManagedFields     []managedField    `json:"managedFields,omitempty"`
	}
	claimSpec struct {
		AccessModes      []string `json:"accessModes"`
		VolumeName       string   `json:"volumeName,omitempty"`
		StorageClassName string   `json:"storageClassName,omitempty"`
		VolumeMode       string   `json:"volumeMode"`
	}
	claimObject struct {
		Metadata objectMeta        `json:"metadata"`
		Spec     claimSpec         `json:"spec"`
		Status   map[string]string `json:"status"`
	}
	claimRef struct {
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	}
	volumeSpec struct {
		CSI                           map[string]string `json:"csi"`
		ClaimRef                      *claimRef         `json:"claimRef,omitempty"`
		PersistentVolumeReclaimPolicy string            `json:"persistentVolumeReclaimPolicy"`
		StorageClassName              string            `json:"storageClassName"`
	}
	volumeObject struct {
		Metadata objectMeta        `json:"metadata"`
		Spec     volumeSpec        `json:"spec"`
		Status   map[string]string `json:"status"`
	}
)

// claim and volume are the stand-in's state of one object.
type claim struct {
	namespace, name, class, volume string
	// inUse keeps a deleted claim until its pod goes, as the
	// kubernetes.io/pvc-protection finalizer does: here, for ever.
	inUse   bool
	owned   bool
	deleted bool
}

type volume struct {
	name, class, policy, claim string
	// lists counts the listings since the claim went: the driver takes
	// one to detach and delete the disk.
	lists int
}

// volumes is the API server with the EBS driver behind it.
type volumes struct {
	mu      sync.Mutex
	pretty  bool
	claims  []*claim
	volumes []*volume
	deletes []string
}

// gone says whether a claim has left the API.
func (c *claim) gone() bool { return c.deleted && !c.inUse }

func (v *volumes) claimGone(ref string) bool {
	for _, c := range v.claims {
		if c.namespace+"/"+c.name == ref {
			return c.gone()
		}
	}
	return true
}

func (v *volumes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		http.Error(w, `{"kind":"Status","code":401,"reason":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	const claimPath = "/api/v1/namespaces/"
	var body any
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/persistentvolumeclaims":
		items := []claimObject{}
		for _, c := range v.claims {
			if !c.gone() {
				items = append(items, v.claimObject(c))
			}
		}
		body = map[string]any{"kind": "PersistentVolumeClaimList", "apiVersion": "v1", "metadata": map[string]any{"resourceVersion": "42"}, "items": items}
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/persistentvolumes":
		items := []volumeObject{}
		var kept []*volume
		for _, vol := range v.volumes {
			if vol.policy == "Delete" && v.claimGone(vol.claim) {
				vol.lists++
				if vol.lists > 1 {
					continue
				}
			}
			kept = append(kept, vol)
			items = append(items, volumeObject{
				Metadata: objectMeta{Name: vol.name, UID: "uid-" + vol.name, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"},
					Finalizers: []string{"kubernetes.io/pv-protection"}},
				Spec: volumeSpec{CSI: map[string]string{"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0" + vol.name},
					ClaimRef:                      &claimRef{Kind: "PersistentVolumeClaim", Namespace: strings.Split(vol.claim, "/")[0], Name: strings.Split(vol.claim, "/")[1]},
					PersistentVolumeReclaimPolicy: vol.policy, StorageClassName: vol.class},
				Status: map[string]string{"phase": "Bound"},
			})
		}
		v.volumes = kept
		body = map[string]any{"kind": "PersistentVolumeList", "apiVersion": "v1", "metadata": map[string]any{"resourceVersion": "43"}, "items": items}
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, claimPath):
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, claimPath), "/")
		if len(parts) != 3 || parts[1] != "persistentvolumeclaims" {
			http.NotFound(w, r)
			return
		}
		v.deletes = append(v.deletes, parts[0]+"/"+parts[2])
		for _, c := range v.claims {
			if c.namespace == parts[0] && c.name == parts[2] && !c.gone() {
				c.deleted = true
				body = v.claimObject(c)
			}
		}
		if body == nil {
			http.Error(w, `{"kind":"Status","code":404,"reason":"NotFound"}`, http.StatusNotFound)
			return
		}
	default:
		http.NotFound(w, r)
		return
	}
	var out []byte
	var err error
	if v.pretty {
		out, err = json.MarshalIndent(body, "", "  ")
	} else {
		out, err = json.Marshal(body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// claimObject is a claim as the API server writes it, with what kubectl
// apply and the controllers leave on it.
func (v *volumes) claimObject(c *claim) claimObject {
	applied, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
		"metadata": map[string]any{"name": c.name, "namespace": c.namespace},
		"spec":     map[string]any{"storageClassName": "gp3", "volumeName": "pvc-bogus"}})
	o := claimObject{
		Metadata: objectMeta{Name: c.name, Namespace: c.namespace, UID: "uid-" + c.name,
			Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(applied), "pv.kubernetes.io/bind-completed": "yes"},
			Finalizers:    []string{"kubernetes.io/pvc-protection"},
			ManagedFields: []managedField{{Manager: "kube-controller-manager", FieldsV1: map[string]any{"f:spec": map[string]any{"f:storageClassName": map[string]any{}, "f:volumeName": map[string]any{}}}}}},
		Spec:   claimSpec{AccessModes: []string{"ReadWriteOnce"}, VolumeName: c.volume, StorageClassName: c.class, VolumeMode: "Filesystem"},
		Status: map[string]string{"phase": "Bound"},
	}
	if c.owned {
		o.Metadata.OwnerReferences = []ownerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "owner-" + c.name, UID: "uid-owner"}}
	}
	if c.deleted {
		o.Metadata.DeletionTimestamp = "2026-01-01T00:00:00Z"
	}
	return o
}

// left lists the names of the volumes the stand-in still has.
func (v *volumes) left() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, vol := range v.volumes {
		out = append(out, vol.name)
	}
	sort.Strings(out)
	return out
}

func releaseEnv(url string, a apitest.Authority, timeout string) map[string]string {
	return map[string]string{
		"SRE_API_URL":              url,
		"SRE_API_CA":               a.CA,
		"SRE_API_CERT":             a.ClientCertificate,
		"SRE_API_KEY":              a.ClientKey,
		"SRE_STORAGE_CLASS":        EBSClass,
		"SRE_API_TIMEOUT_SECONDS":  timeout,
		"SRE_API_INTERVAL_SECONDS": "0.05",
	}
}

// labVolumes are Loki's and Prometheus's claims of the EBS class, an app's
// claim of another class whose last-applied annotation quotes gp3, and
// their volumes, plus a gp3 volume kept on purpose (Retain).
func labVolumes(pretty bool) *volumes {
	return &volumes{
		pretty: pretty,
		claims: []*claim{
			{namespace: "logging", name: "storage-loki-0", class: "gp3", volume: "pvc-loki", owned: true},
			{namespace: "monitoring", name: "prometheus-db-0", class: "gp3", volume: "pvc-prom"},
			{namespace: "apps", name: "scratch", class: "other", volume: "pvc-other"},
		},
		volumes: []*volume{
			{name: "pvc-loki", class: "gp3", policy: "Delete", claim: "logging/storage-loki-0"},
			{name: "pvc-prom", class: "gp3", policy: "Delete", claim: "monitoring/prometheus-db-0"},
			{name: "pvc-other", class: "other", policy: "Delete", claim: "apps/scratch"},
			{name: "pvc-kept", class: "gp3", policy: "Retain", claim: "apps/gone"},
		},
	}
}

// TestReleaseDeletesClaimsOfTheClass: every claim of the EBS class goes,
// whatever its namespace, and nothing else; the script returns only once
// the driver has deleted their volumes, and leaves kept volumes and other
// classes alone, whether the API server pretty-prints or not.
func TestReleaseDeletesClaimsOfTheClass(t *testing.T) {
	for name, pretty := range map[string]bool{"pretty": true, "compact": false} {
		t.Run(name, func(t *testing.T) {
			a := apitest.NewAuthority(t)
			state := labVolumes(pretty)
			api := apitest.NewServer(t, a, state)
			api.Start(t)
			r := apitest.Run(t, releaseScript, releaseTools, releaseEnv(api.URL(), a, "30"), nil)
			require.Equal(t, 0, r.Code)
			assert.Equal(t, "released\n", r.Stdout)
			assert.ElementsMatch(t, []string{"logging/storage-loki-0", "monitoring/prometheus-db-0"}, unique(state.deletes))
			assert.Equal(t, []string{"pvc-kept", "pvc-other"}, state.left())
			assert.Contains(t, r.Stderr, "volumes the driver has not deleted yet: pvc-loki pvc-prom", "it waited for the driver")
		})
	}
}

// unique drops repeats: the script deletes again a claim still there.
func unique(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// TestReleaseGivesUp: a claim a pod still uses, an API server that does
// not answer, and another cluster's admin each fail the delete, saying
// what was left and where to look, instead of letting the driver go while
// disks remain.
func TestReleaseGivesUp(t *testing.T) {
	a := apitest.NewAuthority(t)
	other := apitest.NewAuthority(t)
	other.CA = a.CA
	for name, c := range map[string]struct {
		start   bool
		client  apitest.Authority
		inUse   bool
		timeout string
		want    string
	}{
		// Long enough to look again after the first deletes: only the
		// claim in use is left.
		"claim in use":            {start: true, client: a, inUse: true, timeout: "3", want: "(last: deleting the claims of class gp3 (each goes once no pod uses it): logging/storage-loki-0)"},
		"API server gone":         {client: a, timeout: "1", want: "Failed to connect"},
		"another cluster's admin": {start: true, client: other, timeout: "1", want: "curl: ("},
	} {
		t.Run(name, func(t *testing.T) {
			state := labVolumes(true)
			state.claims[0].inUse = c.inUse
			api := apitest.NewServer(t, a, state)
			if c.start {
				api.Start(t)
			}
			r := apitest.Run(t, releaseScript, releaseTools, releaseEnv(api.URL(), c.client, c.timeout), nil)
			require.NotEqual(t, 0, r.Code)
			assert.Empty(t, r.Stdout)
			assert.Contains(t, r.Stderr, "The volumes of class gp3 were not deleted within "+c.timeout+"s")
			assert.Contains(t, r.Stderr, c.want)
			assert.Contains(t, r.Stderr, "kubectl get pvc -A", "the message says where to look")
			assert.Contains(t, r.Stderr, "docs/cloud-deployment.md", "and how to sweep")
		})
	}
}
