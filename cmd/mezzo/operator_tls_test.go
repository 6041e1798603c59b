package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

const adminSecret = "admin-secret-0123456789abcdef"

// tlsOpMaster starts a master secured as `mezzo master` secures it with
// --tls-cert/--tls-key/--tls-ca, --credentials, --acl and --http, and
// returns its HTTP address and the certificates' directory.
func tlsOpMaster(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if _, err := security.InitDir(certs, security.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sec := &securityFlags{server: true,
		tls:         security.TLSFiles{Cert: filepath.Join(certs, "master.crt"), Key: filepath.Join(certs, "master.key"), CA: filepath.Join(certs, "ca.crt")},
		credentials: write("creds.json", `{"credentials": [{"principal": "admin", "secret": "`+adminSecret+`"}]}`),
		acl:         write("acl.json", `{"view_state": [{"principals": ["admin"]}], "drain_agents": [{"principals": ["admin"]}]}`),
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts, authz, err := sec.serverOptions("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	httpSec, creds, err := sec.masterHTTP("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", ServerOptions: opts, Authorizer: authz, HTTP: httpSec,
		OperatorCredentials: creds, AuthFailures: sec.failures(log), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	addr, err := m.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return addr, certs
}

func tokenFile(t *testing.T, tok string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The operator commands reach a TLS master's HTTP with only --tls-ca and
// --token-file (no client certificate), as the README says, and with a
// client certificate.
func TestOperatorCommandsOverTokenOnlyHTTPS(t *testing.T) {
	addr, certs := tlsOpMaster(t)
	ca := filepath.Join(certs, "ca.crt")
	token := []string{"--master-http", addr, "--tls-ca", ca, "--token-file", tokenFile(t, adminSecret)}
	cert := []string{"--master-http", addr, "--tls-ca", ca, "--tls-cert", filepath.Join(certs, "admin.crt"), "--tls-key", filepath.Join(certs, "admin.key")}
	for _, how := range []struct {
		name  string
		flags []string
	}{{"token only", token}, {"client certificate", cert}} {
		for _, cmd := range []struct {
			name string
			run  func(context.Context, io.Writer, []string) error
			want string
		}{{"status", opStatus, "(leader)"}, {"agents", opAgents, "HOSTNAME"}, {"frameworks", opFrameworks, "ROLE"}, {"tasks", opTasks, "STATE"}} {
			var out bytes.Buffer
			if err := cmd.run(context.Background(), &out, how.flags); err != nil || !strings.Contains(out.String(), cmd.want) {
				t.Errorf("mezzo %s over HTTPS with a %s: %v\n%s", cmd.name, how.name, err, out.String())
			}
		}
	}
	var out bytes.Buffer
	wrong := []string{"--master-http", addr, "--tls-ca", ca, "--token-file", tokenFile(t, "not-the-admin-secret")}
	if err := opStatus(context.Background(), &out, wrong); err == nil || !strings.Contains(err.Error(), "invalid bearer token") {
		t.Errorf("a wrong token: %v; want the master's refusal", err)
	}
}

// A token-only operator checks that the HTTPS server it reaches is the
// master before its token goes out: a server with the agent's
// certificate (right CA, right host) gets no request.
func TestOperatorTokenGoesToNoServerButTheMaster(t *testing.T) {
	_, certs := tlsOpMaster(t)
	var seen atomic.Int64
	rogue := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			seen.Add(1)
		}
	}))
	cfg, err := security.ServerTLS(security.TLSFiles{Cert: filepath.Join(certs, "agent.crt"), Key: filepath.Join(certs, "agent.key"), CA: filepath.Join(certs, "ca.crt")})
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClientAuth = tls.NoClientCert
	rogue.TLS = cfg
	rogue.StartTLS()
	defer rogue.Close()
	var out bytes.Buffer
	err = opStatus(context.Background(), &out, []string{"--master-http", rogue.Listener.Addr().String(), "--tls-ca", filepath.Join(certs, "ca.crt"), "--token-file", tokenFile(t, adminSecret)})
	if err == nil || !strings.Contains(err.Error(), "is not a mezzo master") {
		t.Errorf("status against a server with the agent's certificate: %v; want a refusal saying it is not a master", err)
	}
	if n := seen.Load(); n != 0 {
		t.Errorf("the server with the agent's certificate received the token %d times", n)
	}
}

// A certificate's role holds on the master's HTTPS as on its gRPC, also
// when a bearer token names the caller: the agent's certificate with the
// admin's valid token reads no state and reaches no operator endpoint, as
// it would not alone; the admin's client certificate with the same token
// does both.
func TestMasterHTTPSHoldsCertificateRolesWithATokenToo(t *testing.T) {
	addr, certs := tlsOpMaster(t)
	pool, err := security.LoadCAPool(filepath.Join(certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	do := func(certName, method, path string) (int, string) {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(filepath.Join(certs, certName+".crt"), filepath.Join(certs, certName+".key"))
		if err != nil {
			t.Fatal(err)
		}
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
		defer cl.CloseIdleConnections()
		req, err := http.NewRequest(method, "https://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+adminSecret)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct{ method, path string }{{http.MethodGet, "/state"}, {http.MethodPost, "/api/v1/agents/no-such-agent/undrain"}} {
		if code, body := do("agent", tc.method, tc.path); code != http.StatusForbidden || !strings.Contains(body, "role agent") {
			t.Errorf("%s %s with the agent's certificate and the admin's token: %d %s; want 403 naming role agent", tc.method, tc.path, code, body)
		}
	}
	if code, body := do("admin", http.MethodGet, "/state"); code != http.StatusOK {
		t.Errorf("GET /state with a client certificate and the admin's token: %d %s; want 200", code, body)
	}
	if code, body := do("admin", http.MethodPost, "/api/v1/agents/no-such-agent/undrain"); code != http.StatusNotFound || !strings.Contains(body, "no agent") {
		t.Errorf("undrain with a client certificate and the admin's token: %d %s; want 404 for the unknown agent (admitted)", code, body)
	}
}
