package apigate

import (
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/internal/apitest"
)

// The script runs against a real curl and a real TLS server standing in
// for kube-apiserver. Its states are the ones a bootstrapping control
// plane goes through: nothing listening on 6443 (the static pod has not
// started), /readyz answering 500 while etcd or a post-start hook is not
// ready, then 200 ("ok"); a server that refuses anonymous requests
// answers 401 or 403 instead (k8s.io/apiserver pkg/server/healthz, and the
// system:public-info-viewer role that admits /readyz anonymously).

// hostTools are the only programs on the script's PATH.
var hostTools = []string{"curl", "date", "mktemp", "rm", "sleep", "tr"}

// readyz answers /readyz with the codes in answers, one per request, the
// last one repeated.
func readyz(answers ...int) http.Handler {
	var requests atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		n := int(requests.Add(1)) - 1
		code := answers[min(n, len(answers)-1)]
		w.WriteHeader(code)
		if code == http.StatusOK {
			_, _ = w.Write([]byte("ok"))
		} else {
			_, _ = w.Write([]byte("[-]etcd failed: reason withheld\nreadyz check failed"))
		}
	})
}

func gateEnv(url, ca, timeout string) map[string]string {
	return map[string]string{
		"SRE_API_URL":              url,
		"SRE_API_CA":               ca,
		"SRE_API_TIMEOUT_SECONDS":  timeout,
		"SRE_API_INTERVAL_SECONDS": "0.1",
	}
}

func TestWaitPassesOnceTheServerAnswers(t *testing.T) {
	for name, c := range map[string]struct {
		answers []int
		// startAfter is how many "waiting" lines pass before the port opens.
		startAfter int
		wantWaits  int
		wantInLog  string
	}{
		"refused, then ready": {
			answers: []int{http.StatusOK}, startAfter: 2, wantWaits: 2, wantInLog: "Failed to connect",
		},
		"not ready, then ready": {
			answers:   []int{http.StatusInternalServerError, http.StatusInternalServerError, http.StatusOK},
			wantWaits: 2, wantInLog: "HTTP 500 from /readyz",
		},
		"refused, not ready, then ready": {
			answers: []int{http.StatusInternalServerError, http.StatusOK}, startAfter: 1, wantWaits: 2,
			wantInLog: "HTTP 500 from /readyz",
		},
		"anonymous requests refused":   {answers: []int{http.StatusUnauthorized}, wantInLog: "HTTP 401"},
		"anonymous requests forbidden": {answers: []int{http.StatusForbidden}, wantInLog: "HTTP 403"},
	} {
		t.Run(name, func(t *testing.T) {
			ca := apitest.NewAuthority(t)
			api := apitest.NewServer(t, ca, readyz(c.answers...))
			if c.startAfter == 0 {
				api.Start(t)
			}
			waits := 0
			r := apitest.Run(t, script, hostTools, gateEnv(api.URL(), ca.CA, "60"), func(line string) {
				if strings.Contains(line, "waiting: ") {
					waits++
					if waits >= c.startAfter {
						api.Start(t)
					}
				}
			})
			require.Equal(t, 0, r.Code)
			assert.Equal(t, api.URL()+"\n", r.Stdout, "stdout is the URL alone: it is the gate's recorded output")
			assert.Equal(t, c.wantWaits, waits)
			assert.Contains(t, r.Stderr, c.wantInLog)
		})
	}
}

func TestWaitGivesUp(t *testing.T) {
	right, other := apitest.NewAuthority(t), apitest.NewAuthority(t)
	for name, c := range map[string]struct {
		start   bool
		answers []int
		ca      string
		want    string
	}{
		"nothing listens":          {answers: []int{http.StatusOK}, ca: right.CA, want: "Failed to connect"},
		"never ready":              {start: true, answers: []int{http.StatusInternalServerError}, ca: right.CA, want: "HTTP 500 from /readyz"},
		"another cluster's server": {start: true, answers: []int{http.StatusOK}, ca: other.CA, want: "certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			api := apitest.NewServer(t, right, readyz(c.answers...))
			if c.start {
				api.Start(t)
			}
			r := apitest.Run(t, script, hostTools, gateEnv(api.URL(), c.ca, "1"), nil)
			require.NotEqual(t, 0, r.Code)
			assert.Empty(t, r.Stdout, "a failed gate records nothing")
			assert.Contains(t, r.Stderr, "did not answer within 1s")
			assert.Contains(t, r.Stderr, "sre-lab:adminCidrs", "the message names what to check")
			assert.Contains(t, r.Stderr, c.want, "the message carries the last error")
		})
	}
}

func TestWaitNeedsCurl(t *testing.T) {
	r := apitest.Run(t, script, apitest.Without(hostTools, "curl"), gateEnv("https://127.0.0.1:1", "ca", "1"), nil)
	require.NotEqual(t, 0, r.Code)
	assert.Contains(t, r.Stderr, "curl was not found: install curl")
}

// The CA reaches curl as a file that is gone when the script ends.
func TestWaitLeavesNoFiles(t *testing.T) {
	ca := apitest.NewAuthority(t)
	api := apitest.NewServer(t, ca, readyz(http.StatusOK))
	api.Start(t)
	tmp := t.TempDir()
	env := gateEnv(api.URL(), ca.CA, "10")
	env["TMPDIR"] = tmp
	r := apitest.Run(t, script, hostTools, env, nil)
	require.Equal(t, 0, r.Code)
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left)
}
