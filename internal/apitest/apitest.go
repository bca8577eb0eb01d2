// Package apitest stands in for the Kubernetes API server in tests of the
// scripts that wait on it: a real TLS server on loopback with a cluster CA
// of its own, closed until a test opens it, and a runner that executes a
// script the way the command provider does, with only the named host tools
// on PATH.
package apitest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Authority is a cluster CA with a serving certificate for 127.0.0.1 and
// an admin client certificate, all PEM.
type Authority struct {
	CA                string
	ClientCertificate string
	ClientKey         string

	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	serving tls.Certificate
}

// NewAuthority makes a fresh CA and the certificates it signs.
func NewAuthority(t testing.TB) Authority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubernetes"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	a := Authority{CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), cert: cert, key: key}

	servingCert, servingKey := a.Issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	a.serving, err = tls.X509KeyPair(servingCert, servingKey)
	require.NoError(t, err)
	clientCert, clientKey := a.ClientCert(t, "admin")
	a.ClientCertificate, a.ClientKey = string(clientCert), string(clientKey)
	return a
}

// Issue signs a certificate for tmpl's subject, names and usages, valid
// for an hour, and returns it and its key, PEM-encoded.
func (a Authority) Issue(t testing.TB, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// ClientCert is a client certificate of the cluster admins' group, as a
// Talos admin kubeconfig carries.
func (a Authority) ClientCert(t testing.TB, user string) (certPEM, keyPEM []byte) {
	t.Helper()
	return a.Issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// Pool trusts the authority, as a server checking client certificates does.
func (a Authority) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(a.cert)
	return pool
}

// Server is the stand-in API server: closed until Start, then serving
// handler over TLS with the authority's certificate. Client certificates
// are asked for and, when given, must be the authority's, as
// kube-apiserver's --client-ca-file does.
type Server struct {
	addr string
	srv  *httptest.Server
	once sync.Once
}

// NewServer reserves a loopback port for handler without listening on it.
func NewServer(t testing.TB, a Authority, handler http.Handler) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &Server{addr: l.Addr().String()}
	require.NoError(t, l.Close())
	s.srv = httptest.NewUnstartedServer(handler)
	s.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{a.serving},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    a.Pool(),
	}
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// Start opens the port: the API server's static pod came up.
func (s *Server) Start(t testing.TB) {
	s.once.Do(func() {
		require.NoError(t, s.srv.Listener.Close())
		l, err := net.Listen("tcp", s.addr)
		require.NoError(t, err)
		s.srv.Listener = l
		s.srv.StartTLS()
	})
}

// URL is where clients reach the server.
func (s *Server) URL() string { return "https://" + s.addr }

// Result is what a script run printed and how it ended.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run executes script as the command provider does, its text through
// /bin/sh -c, configured through env, with only tools on PATH; onLine
// sees every line of stderr as it comes, so a test can change the stand-in
// between two attempts.
func Run(t testing.TB, script string, tools []string, env map[string]string, onLine func(line string)) Result {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	for _, tool := range tools {
		path, err := exec.LookPath(tool)
		require.NoError(t, err, "the test needs %s on the host", tool)
		require.NoError(t, os.Symlink(path, filepath.Join(bin, tool)))
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + bin, "TMPDIR=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(pipe)
	for lines.Scan() {
		stderr.WriteString(lines.Text() + "\n")
		if onLine != nil {
			onLine(lines.Text())
		}
	}
	code := 0
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "running the script: %v", err)
		code = exit.ExitCode()
	}
	t.Logf("stderr:\n%s", stderr.String())
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// Without returns tools less the named ones.
func Without(tools []string, names ...string) []string {
	var out []string
	for _, tool := range tools {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+tool+" ") {
			out = append(out, tool)
		}
	}
	return out
}
