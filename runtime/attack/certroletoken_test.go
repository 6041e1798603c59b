package attack

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// httpsWithCert sends a request to the HTTPS server at addr presenting
// certPrincipal's client certificate and tokenPrincipal's bearer token
// ("": none), and returns the status and body.
func (c *cluster) httpsWithCert(addr, certPrincipal, tokenPrincipal, method, path string) (int, string) {
	c.t.Helper()
	pool, err := security.LoadCAPool(c.ca())
	if err != nil {
		c.t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(c.cert(certPrincipal), c.key(certPrincipal))
	if err != nil {
		c.t.Fatal(err)
	}
	cl := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	defer cl.CloseIdleConnections()
	req, err := http.NewRequest(method, "https://"+addr+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if tokenPrincipal != "" {
		req.Header.Set("Authorization", "Bearer "+c.tokens[tokenPrincipal])
	}
	resp, err := cl.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A certificate's role limits its connection even when a valid bearer
// token names the caller, on the master's HTTPS as on its gRPC: the
// agent's certificate (every agent host holds it) with the admin's or a
// tenant's token reads no state, reaches no operator endpoint and
// registers no framework, as the certificate alone would not; a client
// certificate with a token is admitted. An agent's --http lets no other
// agent's certificate read sandboxes, and the master's in.
func TestCertificateRoleHoldsWithAToken(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	undrain := "/api/v1/agents/no-such-agent/undrain"
	for _, tok := range []string{admin, tenantA} {
		if code, body := c.httpsWithCert(c.httpAddr, "agent", tok, http.MethodGet, "/state"); code != http.StatusForbidden || !strings.Contains(body, "role agent") {
			t.Errorf("GET /state with the agent's certificate and %s's token: %d %s; want 403 naming role agent", tok, code, body)
		}
	}
	if code, body := c.httpsWithCert(c.httpAddr, "agent", admin, http.MethodPost, undrain); code != http.StatusForbidden || !strings.Contains(body, "role agent") {
		t.Errorf("an operator call with the agent's certificate and the admin's token: %d %s; want 403 naming role agent", code, body)
	}
	if code, body := c.httpsWithCert(c.httpAddr, tenantA, tenantA, http.MethodGet, "/state"); code != http.StatusOK {
		t.Errorf("GET /state with tenant-a's certificate and token: %d %s; want 200", code, body)
	}
	if code, body := c.httpsWithCert(c.httpAddr, admin, admin, http.MethodPost, undrain); code != http.StatusNotFound {
		t.Errorf("an operator call with the admin's certificate and token: %d %s; want 404 for the unknown agent (admitted)", code, body)
	}

	cfg, err := security.ClientTLS(security.TLSFiles{Cert: c.cert("agent"), Key: c.key("agent"), CA: c.ca()}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = subscribe(t, c.dialWith(security.DialOptions(cfg, c.tokens[tenantA])...), mezzo.FrameworkInfo{Name: "agent-cert-with-token", Role: "a", User: "nobody"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "role agent") {
		t.Errorf("gRPC subscription with the agent's certificate and tenant-a's token: %v; want PermissionDenied naming role agent", err)
	}

	agentHTTP := waitLog(t, c.agents[0].proc, "the agent's HTTP address", httpListenRE, 10*time.Second)
	sandbox := "/sandbox/no-such-framework/no-such-executor/stdout"
	if code, body := c.httpsWithCert(agentHTTP, "agent", "", http.MethodGet, sandbox); code != http.StatusForbidden || !strings.Contains(body, "role agent") {
		t.Errorf("a sandbox read on an agent's --http with the agent's certificate: %d %s; want 403 naming role agent", code, body)
	}
	if code, body := c.httpsWithCert(agentHTTP, "master", "", http.MethodGet, sandbox); code != http.StatusNotFound {
		t.Errorf("a sandbox read on an agent's --http with the master's certificate: %d %s; want 404 for the unknown sandbox (admitted)", code, body)
	}
}
