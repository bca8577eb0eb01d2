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

	pool    *x509.CertPool
	serving tls.Certificate
}

// NewAuthority makes a fresh CA and the certificates it signs.
func NewAuthority(t testing.TB) Authority {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubernetes"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	issue := func(serial int64, name string, usage x509.ExtKeyUsage, ips []net.IP) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name, Organization: []string{"system:masters"}},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			IPAddresses:  ips,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	servingCert, servingKey := issue(2, "kube-apiserver", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	serving, err := tls.X509KeyPair(servingCert, servingKey)
	require.NoError(t, err)
	clientCert, clientKey := issue(3, "admin", x509.ExtKeyUsageClientAuth, nil)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return Authority{
		CA:                string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		ClientCertificate: string(clientCert),
		ClientKey:         string(clientKey),
		pool:              pool,
		serving:           serving,
	}
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
		ClientCAs:    a.pool,
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
