package agent

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// With HTTPAuth the sandbox endpoint admits the master's certificate only;
// metrics stay open for scrapers.
func TestSandboxAdmitsOnlyTheMaster(t *testing.T) {
	a, _ := sandboxAgent(t)
	dir := t.TempDir()
	if _, err := security.InitDir(dir, security.InitOptions{Principals: []string{"analytics"}}); err != nil {
		t.Fatal(err)
	}
	files := func(name string) security.TLSFiles {
		return security.TLSFiles{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, "ca.crt")}
	}
	a.cfg.HTTPAuth = &security.Authenticator{Required: true}
	a.cfg.SandboxReaders = []string{"master"}
	srvTLS, err := security.HTTPServerTLS(files("agent"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.TLS = srvTLS
	srv.StartTLS()
	defer srv.Close()
	var getFrom func(base, path, cert string) (int, string)
	pool, err := security.LoadCAPool(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, cert string) (int, string) { return getFrom(srv.URL, path, cert) }
	getFrom = func(base, path, cert string) (int, string) {
		t.Helper()
		cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
		if cert != "" {
			c, err := security.ClientTLSTo(security.RoleAgent, files(cert), "")
			if err != nil {
				t.Fatal(err)
			}
			cfg = c
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer client.CloseIdleConnections()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/sandbox/fw/ex/stdout?tail=10", "master"); code != 200 || body != "last line\n" {
		t.Errorf("master: %d %q, want 200 \"last line\\n\"", code, body)
	}
	if code, body := get("/sandbox/fw/ex/stdout", "analytics"); code != 403 || !strings.Contains(body, "analytics") || !strings.Contains(body, "master only") {
		t.Errorf("analytics: %d %q, want 403 naming analytics and saying master only", code, body)
	}
	if code, body := get("/sandbox/fw/ex/stdout", ""); code != 401 || strings.Contains(body, "last line") {
		t.Errorf("no certificate: %d %q, want 401", code, body)
	}
	// Another agent's certificate is bound to the agent role: it reads no
	// sandbox even when its principal is listed.
	a.cfg.SandboxReaders = []string{"master", "agent"}
	srv2 := httptest.NewUnstartedServer(a.Handler())
	srv2.TLS = srvTLS
	srv2.StartTLS()
	defer srv2.Close()
	if code, body := getFrom(srv2.URL, "/sandbox/fw/ex/stdout", "agent"); code != 403 || !strings.Contains(body, "role agent") || strings.Contains(body, "last line") {
		t.Errorf("an agent's certificate: %d %q, want 403 saying its role is agent", code, body)
	}
	if code, _ := get("/metrics", ""); code != 200 {
		t.Errorf("/metrics without a certificate: %d, want 200", code)
	}
}
