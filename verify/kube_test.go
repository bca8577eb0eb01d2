package verify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/internal/apitest"
	"github.com/your-org/sre-lab/verify/verifytest"
)

// quietLog drops the handshake errors of servers a test expects to be
// refused by, or to refuse, the client.
var quietLog = log.New(io.Discard, "", 0)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// kubeconfigYAML is a one-context kubeconfig with the given cluster and
// user mappings.
func kubeconfigYAML(cluster, user string) string {
	return `apiVersion: v1
kind: Config
current-context: admin@lab
contexts:
  - name: other
    context: {cluster: other, user: other}
  - name: admin@lab
    context: {cluster: lab, user: admin@lab}
clusters:
  - name: other
    cluster: {server: "https://other:6443", certificate-authority-data: ` + b64("other CA") + `}
  - name: lab
    cluster: ` + cluster + `
users:
  - name: other
    user: {token: other-token}
  - name: admin@lab
    user: ` + user + "\n"
}

func TestParseKubeconfig(t *testing.T) {
	const secretKey = "-----BEGIN EC PRIVATE KEY-----\nsecret-key-material\n-----END EC PRIVATE KEY-----\n"
	cluster := `{server: "https://192.168.56.10:6443/", certificate-authority-data: ` + b64("lab CA") + `}`

	tests := []struct {
		name    string
		yaml    string
		want    kubeCredentials
		wantErr string
	}{
		{
			name: "token",
			yaml: kubeconfigYAML(cluster, `{token: lab-token}`),
			want: kubeCredentials{server: "https://192.168.56.10:6443", ca: []byte("lab CA"), token: "lab-token"},
		},
		{
			name: "client certificate, as Talos writes it",
			yaml: kubeconfigYAML(cluster, `{client-certificate-data: `+b64("lab cert")+`, client-key-data: `+b64(secretKey)+`}`),
			want: kubeCredentials{server: "https://192.168.56.10:6443", ca: []byte("lab CA"), clientCert: []byte("lab cert"), clientKey: []byte(secretKey)},
		},
		{
			name: "client certificate and token",
			yaml: kubeconfigYAML(cluster, `{client-certificate-data: `+b64("lab cert")+`, client-key-data: `+b64(secretKey)+`, token: lab-token}`),
			want: kubeCredentials{server: "https://192.168.56.10:6443", ca: []byte("lab CA"), clientCert: []byte("lab cert"), clientKey: []byte(secretKey), token: "lab-token"},
		},
		{
			name:    "no current context",
			yaml:    strings.Replace(kubeconfigYAML(cluster, `{token: t}`), "current-context: admin@lab", "", 1),
			wantErr: "kubeconfig: no current-context",
		},
		{
			name:    "current context not listed",
			yaml:    strings.Replace(kubeconfigYAML(cluster, `{token: t}`), "current-context: admin@lab", "current-context: admin@gone", 1),
			wantErr: `kubeconfig: context "admin@gone" not found`,
		},
		{
			name:    "cluster not listed",
			yaml:    strings.Replace(kubeconfigYAML(cluster, `{token: t}`), "{cluster: lab,", "{cluster: gone,", 1),
			wantErr: `kubeconfig: cluster "gone" not found`,
		},
		{
			name:    "user not listed",
			yaml:    strings.Replace(kubeconfigYAML(cluster, `{token: t}`), "user: admin@lab}", "user: gone}", 1),
			wantErr: `kubeconfig: user "gone" not found`,
		},
		{
			name:    "plain http server",
			yaml:    kubeconfigYAML(`{server: "http://192.168.56.10:6443", certificate-authority-data: `+b64("lab CA")+`}`, `{token: t}`),
			wantErr: `server "http://192.168.56.10:6443" is not an https URL`,
		},
		{
			name:    "no CA",
			yaml:    kubeconfigYAML(`{server: "https://192.168.56.10:6443", insecure-skip-tls-verify: true}`, `{token: t}`),
			wantErr: `kubeconfig: cluster "lab" has no certificate-authority-data`,
		},
		{
			name:    "key data not base64",
			yaml:    kubeconfigYAML(cluster, `{client-certificate-data: `+b64("lab cert")+`, client-key-data: "secret-key-material!"}`),
			wantErr: "kubeconfig: user admin@lab client-key-data is not valid base64",
		},
		{
			name:    "certificate without key",
			yaml:    kubeconfigYAML(cluster, `{client-certificate-data: `+b64("lab cert")+`}`),
			wantErr: `kubeconfig: user "admin@lab" needs both client-certificate-data and client-key-data`,
		},
		{
			name:    "no credentials",
			yaml:    kubeconfigYAML(cluster, `{exec: {command: aws}}`),
			wantErr: `kubeconfig: user "admin@lab" has neither a client certificate nor a token`,
		},
		{
			name:    "wrong shape",
			yaml:    kubeconfigYAML(cluster, `[secret-key-material]`),
			wantErr: "kubeconfig: a field has the wrong type",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseKubeconfig([]byte(tc.yaml))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NotContains(t, err.Error(), "secret-key-material")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestKubeClientClientCertificate talks to a server that demands a client
// certificate from the kubeconfig's CA, as a Talos API server does.
func TestKubeClientClientCertificate(t *testing.T) {
	ca := apitest.NewAuthority(t)
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	server.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	server.Config.ErrorLog = quietLog // the token-only client is refused on purpose
	server.StartTLS()
	t.Cleanup(server.Close)
	serverCA := b64(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw})))
	cluster := `{server: "` + server.URL + `", certificate-authority-data: ` + serverCA + `}`
	certPEM, keyPEM := ca.ClientCert(t, "admin")

	kube, err := NewKubeClient([]byte(kubeconfigYAML(cluster, `{client-certificate-data: `+b64(string(certPEM))+`, client-key-data: `+b64(string(keyPEM))+`}`)))
	require.NoError(t, err)
	status, body, err := kube.Get(context.Background(), "/version")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "hello admin", string(body))

	tokenOnly, err := NewKubeClient([]byte(kubeconfigYAML(cluster, `{token: t}`)))
	require.NoError(t, err)
	_, _, err = tokenOnly.Get(context.Background(), "/version")
	assert.Error(t, err, "the server requires a client certificate")
}

// TestKubeClientVerifiesServer refuses a server whose certificate the
// kubeconfig's CA did not sign.
func TestKubeClientVerifiesServer(t *testing.T) {
	lab := verifytest.NewServer(t, nil)
	certPEM, keyPEM := apitest.NewAuthority(t).Issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	impostor := httptest.NewUnstartedServer(http.NotFoundHandler())
	impostor.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	impostor.Config.ErrorLog = quietLog // the client refuses it on purpose
	impostor.StartTLS()
	t.Cleanup(impostor.Close)
	kube, err := NewKubeClient([]byte(strings.Replace(lab.Kubeconfig(), lab.URL, impostor.URL, 1)))
	require.NoError(t, err)

	_, _, err = kube.Get(context.Background(), verifytest.PathNodes)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "x509: certificate signed by unknown authority")
}

// TestKubeClientSendsToken is what the recorded lab relies on: without the
// bearer token the fake API server answers 401, and the checks say so.
func TestKubeClientSendsToken(t *testing.T) {
	server := verifytest.NewServer(t, nil)
	wrong, err := NewKubeClient([]byte(strings.Replace(server.Kubeconfig(), verifytest.Token, "wrong-token", 1)))
	require.NoError(t, err)

	_, err = nodesReady(wrong, nil).Run(context.Background())

	require.Error(t, err)
	assert.Equal(t, "list nodes: 401 Unauthorized: Unauthorized", err.Error())
}

func TestNewKubeClientErrors(t *testing.T) {
	ca := apitest.NewAuthority(t)
	certPEM, _ := ca.ClientCert(t, "admin")
	_, otherKey := ca.ClientCert(t, "other")
	tests := []struct {
		name, cluster, user, wantErr string
	}{
		{
			name:    "CA not PEM",
			cluster: `{server: "https://lab:6443", certificate-authority-data: ` + b64("not a certificate") + `}`,
			user:    `{token: t}`,
			wantErr: "kubeconfig: certificate-authority-data holds no PEM certificate",
		},
		{
			name:    "key of another certificate",
			cluster: `{server: "https://lab:6443", certificate-authority-data: ` + b64(ca.CA) + `}`,
			user:    `{client-certificate-data: ` + b64(string(certPEM)) + `, client-key-data: ` + b64(string(otherKey)) + `}`,
			wantErr: "kubeconfig: client certificate: tls: private key does not match public key",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewKubeClient([]byte(kubeconfigYAML(tc.cluster, tc.user)))
			require.Error(t, err)
			assert.Equal(t, tc.wantErr, err.Error())
		})
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{
			name:   "API server Status",
			status: http.StatusForbidden,
			body:   `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"nodes is forbidden: User \"dev\" cannot list resource \"nodes\"","reason":"Forbidden","code":403}`,
			want:   `403 Forbidden: nodes is forbidden: User "dev" cannot list resource "nodes"`,
		},
		{
			name:   "service text, first line only",
			status: http.StatusServiceUnavailable,
			body:   "Ingester not ready: waiting for 15s after being ready\ngoroutine 1 [running]:\n",
			want:   "503 Service Unavailable: Ingester not ready: waiting for 15s after being ready",
		},
		{
			name:   "long body cut",
			status: http.StatusInternalServerError,
			body:   strings.Repeat("x", 300),
			want:   "500 Internal Server Error: " + strings.Repeat("x", 200) + "...",
		},
		{name: "empty body", status: http.StatusBadGateway, want: "502 Bad Gateway"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Describe(tc.status, []byte(tc.body)))
		})
	}
}
