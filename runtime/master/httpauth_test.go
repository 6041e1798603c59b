package master_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// httpACL is testACL plus who may read state and others' sandboxes.
const httpACL = `{
  "register_frameworks": [
    {"principals": ["analytics"], "roles": ["analytics"]},
    {"principals": ["other"], "roles": ["*"]}
  ],
  "register_agents": [{"principals": ["agent"]}],
  "view_state": [{"principals": ["analytics", "admin"]}],
  "read_sandbox": [{"principals": ["admin"], "framework_principals": ["ANY"]}]
}`

type securedHTTP struct {
	base   string // https://host:port of the master's HTTP server
	caPool *tls.Config
	dir    string
	agent  mezzo.AgentID
	fws    map[string]mezzo.FrameworkID // by principal
}

// startSecuredHTTP runs a master whose gRPC and HTTPS servers take bearer
// tokens (and, on HTTPS, client certificates), with httpACL; an agent
// whose sandbox server admits the master's certificate only; and one
// framework each of principals analytics and other.
func startSecuredHTTP(t *testing.T) *securedHTTP {
	t.Helper()
	dir := t.TempDir()
	if _, err := security.InitDir(dir, security.InitOptions{Principals: []string{"analytics", "other"}}); err != nil {
		t.Fatal(err)
	}
	files := func(name string) security.TLSFiles {
		return security.TLSFiles{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, "ca.crt")}
	}
	creds, err := security.ParseCredentials("creds.json", []byte(testCredentials))
	if err != nil {
		t.Fatal(err)
	}
	acl, err := security.ParseACL("acl.json", []byte(httpACL))
	if err != nil {
		t.Fatal(err)
	}

	// The agent's sandbox server, as runtime/agent guards it: mutual TLS,
	// principal "master" only.
	agentTLS, err := security.ServerTLS(files("agent"))
	if err != nil {
		t.Fatal(err)
	}
	agentSrv := httptest.NewUnstartedServer(security.Guard(&security.Authenticator{Required: true},
		security.OnlyPrincipals(security.ReadSandbox, "master"),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "contents of %s", r.URL.Path)
		})))
	agentSrv.TLS = agentTLS
	agentSrv.StartTLS()
	t.Cleanup(agentSrv.Close)

	httpTLS, err := security.HTTPServerTLS(files("master"))
	if err != nil {
		t.Fatal(err)
	}
	toAgents, err := security.ClientTLS(files("master"), "")
	if err != nil {
		t.Fatal(err)
	}
	m, addr := startMaster(t, master.Config{Authorizer: acl,
		ServerOptions: security.ServerOptions(security.ServerConfig{Auth: &security.Authenticator{Credentials: creds, Required: true}}),
		HTTP:          master.HTTPSecurity{TLS: httpTLS, Auth: &security.Authenticator{Credentials: creds, Required: true}, AgentTLS: toAgents},
	})
	m.SetViewMaxAge(0)
	httpAddr, err := m.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ag := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256",
		Attributes:  []mezzo.Attribute{{Name: master.AgentHTTPAttribute, Value: agentSrv.Listener.Addr().String()}},
		DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}})
	a := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics"}, as("tok-analytics-secret-0001"))
	o := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "o"}, as("tok-other-secret-000002"))
	pool, err := security.LoadCAPool(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return &securedHTTP{base: "https://" + httpAddr, caPool: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}, dir: dir,
		agent: ag.ID(), fws: map[string]mezzo.FrameworkID{"analytics": a.ID, "other": o.ID}}
}

// get fetches path with a bearer token ("" none) or, when cert is set,
// that principal's client certificate. Errors come back unwrapped.
func (c *securedHTTP) get(t *testing.T, path, token, cert string) (int, string) {
	t.Helper()
	cfg := c.caPool.Clone()
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(filepath.Join(c.dir, cert+".crt"), filepath.Join(c.dir, cert+".key"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: wait}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error
	}
	return resp.StatusCode, string(b)
}

func (c *securedHTTP) sandbox(owner string) string {
	return "/sandbox/" + string(c.agent) + "/" + string(c.fws[owner]) + "/ex/stdout"
}

func TestHTTPSandboxOnlyOwnOrGranted(t *testing.T) {
	c := startSecuredHTTP(t)
	for _, tc := range []struct {
		who, token, cert, owner string
		code                    int
		words                   []string
	}{
		{"analytics its own", "tok-analytics-secret-0001", "", "analytics", 200, []string{"contents of /sandbox/" + string(c.fws["analytics"])}},
		{"analytics by certificate, its own", "", "analytics", "analytics", 200, nil},
		{"analytics reading other's", "tok-analytics-secret-0001", "", "other", 403, []string{`"analytics"`, "read_sandbox for the sandboxes of framework " + string(c.fws["other"])}},
		{"other reading analytics'", "", "other", "analytics", 403, []string{`"other"`, "read_sandbox"}},
		{"admin, granted read_sandbox over ANY", "tok-admin-secret-000004", "", "other", 200, []string{"contents of"}},
		{"nobody", "", "", "analytics", 401, []string{"no credentials"}},
		{"a wrong token", "tok-nope", "", "analytics", 401, []string{"invalid bearer token"}},
	} {
		code, body := c.get(t, c.sandbox(tc.owner), tc.token, tc.cert)
		if code != tc.code {
			t.Errorf("%s: %d %q, want %d", tc.who, code, body, tc.code)
			continue
		}
		for _, w := range tc.words {
			if !strings.Contains(body, w) {
				t.Errorf("%s: %q does not say %q", tc.who, body, w)
			}
		}
	}
	if code, body := c.get(t, "/sandbox/"+string(c.agent)+"/no-such-fw/ex/stdout", "tok-admin-secret-000004", ""); code != http.StatusNotFound {
		t.Errorf("unknown framework: %d %q, want 404", code, body)
	}
	// A principal that may read only its own sandboxes learns nothing of
	// other frameworks: whose they are, or whether they exist at all.
	_, other := c.get(t, c.sandbox("other"), "tok-analytics-secret-0001", "")
	code, unknown := c.get(t, "/sandbox/"+string(c.agent)+"/no-such-fw/ex/stdout", "tok-analytics-secret-0001", "")
	if code != http.StatusForbidden || strings.ReplaceAll(other, string(c.fws["other"]), "F") != strings.ReplaceAll(unknown, "no-such-fw", "F") {
		t.Errorf("analytics reading an unknown framework's sandbox: %d %q; want 403 in the words of another's (%q)", code, unknown, other)
	}
	if strings.Contains(other, `"other"`) {
		t.Errorf("the refusal %q names the framework's owner", other)
	}
}

func TestHTTPViewStateEnforced(t *testing.T) {
	c := startSecuredHTTP(t)
	for _, path := range []string{"/state", "/frameworks", "/agents", "/tasks", "/ui/", "/ui/agents"} {
		if code, body := c.get(t, path, "tok-analytics-secret-0001", ""); code != http.StatusOK {
			t.Errorf("analytics GET %s: %d %q, want 200", path, code, body)
		}
		if code, body := c.get(t, path, "", "admin"); code != http.StatusOK {
			t.Errorf("admin (certificate) GET %s: %d %q, want 200", path, code, body)
		}
		code, body := c.get(t, path, "tok-other-secret-000002", "")
		if code != http.StatusForbidden || !strings.Contains(body, `"other"`) || !strings.Contains(body, "view_state") {
			t.Errorf("other GET %s: %d %q, want 403 naming other and view_state", path, code, body)
		}
		if code, _ := c.get(t, path, "", ""); code != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s: %d, want 401", path, code)
		}
	}
	// The UI's sandbox page needs view_state and read_sandbox.
	q := "/ui/sandbox?framework=" + string(c.fws["other"]) + "&task=t"
	if code, _ := c.get(t, q, "tok-other-secret-000002", ""); code != http.StatusForbidden {
		t.Errorf("other on the UI sandbox page: %d, want 403 (no view_state)", code)
	}
	// Scrapers and probes carry no credentials.
	for _, path := range []string{"/metrics", "/health"} {
		if code, body := c.get(t, path, "", ""); code != http.StatusOK {
			t.Errorf("anonymous GET %s: %d %q, want 200", path, code, body)
		}
	}
}
