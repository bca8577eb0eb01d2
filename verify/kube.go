package verify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxBody bounds what is read from one response: a proxied service that
// misbehaves must not make verify buffer without limit.
const maxBody = 16 << 20

// kubeCredentials is the one context of a kubeconfig verify talks through.
type kubeCredentials struct {
	server     string
	ca         []byte
	clientCert []byte
	clientKey  []byte
	token      string
}

// kubeconfigFile is the subset of the kubeconfig format verify reads: the
// current context's cluster and user, with everything embedded, as Talos
// writes it.
type kubeconfigFile struct {
	CurrentContext string        `yaml:"current-context"`
	Contexts       []kubeContext `yaml:"contexts"`
	Clusters       []kubeCluster `yaml:"clusters"`
	Users          []kubeUser    `yaml:"users"`
}

type kubeContext struct {
	Name    string `yaml:"name"`
	Context struct {
		Cluster string `yaml:"cluster"`
		User    string `yaml:"user"`
	} `yaml:"context"`
}

type kubeCluster struct {
	Name    string `yaml:"name"`
	Cluster struct {
		Server string `yaml:"server"`
		CAData string `yaml:"certificate-authority-data"`
	} `yaml:"cluster"`
}

type kubeUser struct {
	Name string `yaml:"name"`
	User struct {
		ClientCertData string `yaml:"client-certificate-data"`
		ClientKeyData  string `yaml:"client-key-data"`
		Token          string `yaml:"token"`
	} `yaml:"user"`
}

// parseKubeconfig resolves current-context to a server, its CA and the
// user's credentials. Errors name the context, cluster or user at fault but
// never quote the document, which holds keys.
func parseKubeconfig(data []byte) (kubeCredentials, error) {
	var f kubeconfigFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		// yaml.v3 quotes the start of the offending value in type
		// errors, and that value may be key material.
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return kubeCredentials{}, errors.New("kubeconfig: a field has the wrong type")
		}
		return kubeCredentials{}, fmt.Errorf("kubeconfig: %w", err)
	}
	if f.CurrentContext == "" {
		return kubeCredentials{}, errors.New("kubeconfig: no current-context")
	}
	i := slices.IndexFunc(f.Contexts, func(c kubeContext) bool { return c.Name == f.CurrentContext })
	if i < 0 {
		return kubeCredentials{}, fmt.Errorf("kubeconfig: context %q not found", f.CurrentContext)
	}
	clusterName, userName := f.Contexts[i].Context.Cluster, f.Contexts[i].Context.User
	i = slices.IndexFunc(f.Clusters, func(c kubeCluster) bool { return c.Name == clusterName })
	if i < 0 {
		return kubeCredentials{}, fmt.Errorf("kubeconfig: cluster %q not found", clusterName)
	}
	cluster := f.Clusters[i].Cluster
	i = slices.IndexFunc(f.Users, func(u kubeUser) bool { return u.Name == userName })
	if i < 0 {
		return kubeCredentials{}, fmt.Errorf("kubeconfig: user %q not found", userName)
	}
	user := f.Users[i].User

	creds := kubeCredentials{server: strings.TrimSuffix(cluster.Server, "/"), token: user.Token}
	server, err := url.Parse(creds.server)
	if err != nil || server.Scheme != "https" || server.Host == "" {
		return kubeCredentials{}, fmt.Errorf("kubeconfig: cluster %q: server %q is not an https URL", clusterName, creds.server)
	}
	if creds.ca, err = decodeData(cluster.CAData, "cluster "+clusterName+" certificate-authority-data"); err != nil {
		return kubeCredentials{}, err
	}
	// Without the CA the only way in is to skip verification, and a
	// health check that trusts any server proves nothing.
	if len(creds.ca) == 0 {
		return kubeCredentials{}, fmt.Errorf("kubeconfig: cluster %q has no certificate-authority-data", clusterName)
	}
	if creds.clientCert, err = decodeData(user.ClientCertData, "user "+userName+" client-certificate-data"); err != nil {
		return kubeCredentials{}, err
	}
	if creds.clientKey, err = decodeData(user.ClientKeyData, "user "+userName+" client-key-data"); err != nil {
		return kubeCredentials{}, err
	}
	if (len(creds.clientCert) == 0) != (len(creds.clientKey) == 0) {
		return kubeCredentials{}, fmt.Errorf("kubeconfig: user %q needs both client-certificate-data and client-key-data", userName)
	}
	if len(creds.clientCert) == 0 && creds.token == "" {
		return kubeCredentials{}, fmt.Errorf("kubeconfig: user %q has neither a client certificate nor a token", userName)
	}
	return creds, nil
}

// decodeData decodes a base64 *-data field; what names it in errors, and an
// absent field decodes to nothing.
func decodeData(s, what string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// The decoder's error is an offset; quoting the field would
		// print key material.
		return nil, fmt.Errorf("kubeconfig: %s is not valid base64", what)
	}
	return b, nil
}

// KubeClient is a read-only client of the Kubernetes API, enough for GETs of
// JSON objects and of services behind the API server's proxy.
type KubeClient struct {
	server string
	token  string
	http   *http.Client
}

// NewKubeClient builds a client from kubeconfig YAML. The server's
// certificate is verified against the kubeconfig's CA.
func NewKubeClient(kubeconfig []byte) (*KubeClient, error) {
	creds, err := parseKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(creds.ca) {
		return nil, errors.New("kubeconfig: certificate-authority-data holds no PEM certificate")
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if len(creds.clientCert) > 0 {
		cert, err := tls.X509KeyPair(creds.clientCert, creds.clientKey)
		if err != nil {
			// X509KeyPair's errors describe the mismatch, not the key.
			return nil, fmt.Errorf("kubeconfig: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &KubeClient{
		server: creds.server,
		token:  creds.token,
		// HTTPS_PROXY is honored as kubectl honors it, so verify reaches
		// the clusters kubectl reaches.
		http: &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment}},
	}, nil
}

// Get fetches path (with any query) from the API server and returns the
// status code and body; a non-2xx status is not an error, since the checks
// of proxied services judge it themselves.
func (c *KubeClient) Get(ctx context.Context, path string) (int, []byte, error) {
	reply, err := c.Do(ctx, http.MethodGet, path, nil, nil)
	return reply.Status, reply.Body, err
}

// Reply is the API server's answer to one request: for a proxied service,
// the service's own status, headers and body.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request to the API server with extra headers and an
// optional body. The API server consumes the Authorization header itself
// (it authenticates the client with it, or drops it), so a proxied service
// that wants its own credentials has to be given them in another header,
// a cookie for instance. As with Get, a non-2xx status is not an error.
func (c *KubeClient) Do(ctx context.Context, method, path string, header http.Header, body []byte) (Reply, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, reader)
	if err != nil {
		return Reply{}, err
	}
	for name, values := range header {
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	reply := Reply{Status: resp.StatusCode, Header: resp.Header}
	if reply.Body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody)); err != nil {
		return Reply{Status: resp.StatusCode, Header: resp.Header}, fmt.Errorf("read answer to %s: %w", path, err)
	}
	return reply, nil
}

// getJSON fetches path and decodes a 200 answer into v.
func (c *KubeClient) getJSON(ctx context.Context, path string, v any) error {
	status, body, err := c.Get(ctx, path)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return errors.New(Describe(status, body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// Describe turns a failed answer into "503 Service Unavailable: why". The
// API server wraps its own errors (no endpoints, forbidden, not found) in a
// Status object whose message is the useful part; proxied services answer
// with their own text.
func Describe(status int, body []byte) string {
	reason := strings.TrimSpace(string(body))
	var s struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &s) == nil && s.Kind == "Status" && s.Message != "" {
		reason = s.Message
	}
	reason, _, _ = strings.Cut(reason, "\n")
	const limit = 200
	if len(reason) > limit {
		reason = reason[:limit] + "..."
	}
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	if reason == "" {
		return text
	}
	return text + ": " + reason
}
