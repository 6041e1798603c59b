package security

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// `mezzo certs init` binds every certificate to its role: the master's to
// master, the agent's to agent (it names the hosts, for its own sandbox
// server, but is no master), the clients' to client.
func TestInitDirBindsRoles(t *testing.T) {
	dir := t.TempDir()
	if _, err := InitDir(dir, InitOptions{Principals: []string{"analytics"}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Role{"master": RoleMaster, "agent": RoleAgent, "framework": RoleClient, "admin": RoleClient, "analytics": RoleClient} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		leaf := mustLeaf(t, pair)
		got, err := CertRole(leaf)
		if err != nil || got != want {
			t.Errorf("%s.crt: role %q, %v; want %s", name, got, err, want)
		}
		if p := PrincipalFromCert(leaf); p != name {
			t.Errorf("%s.crt: principal %q", name, p)
		}
		server := false
		for _, u := range leaf.ExtKeyUsage {
			server = server || u == x509.ExtKeyUsageServerAuth
		}
		if server != (want != RoleClient) {
			t.Errorf("%s.crt: server authentication %v", name, server)
		}
	}
}

func TestInitDirRefusesReservedAndBadPrincipals(t *testing.T) {
	for _, ps := range [][]string{{"master"}, {"agent"}, {"ca"}, {"a", "a"}, {""}, {"../x"}, {".hidden"}} {
		dir := t.TempDir()
		if _, err := InitDir(dir, InitOptions{Principals: ps}); err == nil {
			t.Errorf("InitDir with principals %q succeeded", ps)
		}
		if _, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil {
			t.Errorf("principals %q: a CA was written before the names were refused", ps)
		}
	}
}

func TestCertRoleRefusesNoneSeveralAndUnknown(t *testing.T) {
	ca, err := NewCA("t", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(spec CertSpec) *x509.Certificate {
		t.Helper()
		spec.Client, spec.NotBefore, spec.NotAfter = true, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		c, k, err := ca.Issue(spec)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return mustLeaf(t, pair)
	}
	if _, err := CertRole(leaf(CertSpec{Principal: "old"})); err == nil || !strings.Contains(err.Error(), "mezzo certs init") || !strings.Contains(err.Error(), `"old"`) {
		t.Errorf("no role: %v; want an error naming the principal and mezzo certs init", err)
	}
	if _, _, err := ca.Issue(CertSpec{Principal: "x", Role: "root", Client: true}); err == nil {
		t.Error("Issue took an unknown role")
	}
	c := leaf(CertSpec{Principal: "two", Role: RoleClient})
	u := *c.URIs[len(c.URIs)-1]
	u.Path = "/master"
	c.URIs = append(c.URIs, &u)
	if _, err := CertRole(c); err == nil || !strings.Contains(err.Error(), "2 roles") {
		t.Errorf("two roles: %v", err)
	}
}

// A client checks the server's role in the handshake: the agent's
// certificate, valid for the host and signed by the CA, does not pass for
// the master's, and nothing is sent to it.
func TestClientsVerifyTheServersRole(t *testing.T) {
	c := newCluster(t)
	serveAs := func(name string) string {
		t.Helper()
		cfg, err := ServerTLS(c.files(name))
		if err != nil {
			t.Fatal(err)
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lis.Close() })
		go func() {
			for {
				conn, err := lis.Accept()
				if err != nil {
					return
				}
				go func() { _ = conn.(*tls.Conn).Handshake(); conn.Close() }()
			}
		}()
		return lis.Addr().String()
	}
	handshake := func(addr string, cfg *tls.Config) error {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err == nil {
			conn.Close()
		}
		return err
	}
	masterAddr, agentAddr := serveAs("master"), serveAs("agent")
	withCert, err := ClientTLS(c.files("framework"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tokenOnly, err := MasterCAOnlyTLS(filepath.Join(c.dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	tokenOnly.ServerName = "127.0.0.1"
	toAgent, err := ClientTLSTo(RoleAgent, c.files("master"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what string
		addr string
		cfg  *tls.Config
		ok   bool
	}{
		{"client certificate to the master", masterAddr, withCert, true},
		{"token client to the master", masterAddr, tokenOnly, true},
		{"client certificate to an agent posing as master", agentAddr, withCert, false},
		{"token client to an agent posing as master", agentAddr, tokenOnly, false},
		{"the master's proxy to an agent", agentAddr, toAgent, true},
		{"the master's proxy to a master posing as agent", masterAddr, toAgent, false},
	} {
		err := handshake(tc.addr, tc.cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.what, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "is not a mezzo") {
			t.Errorf("%s: %v does not say the server is not what it should be", tc.what, err)
		}
	}
}

// A certificate's role limits its connection even when a bearer token
// names the caller, on gRPC and HTTP alike: an agent's certificate with a
// valid token is refused by a server that admits client certificates, as
// the certificate alone is; a client certificate with a token is admitted
// (the token names the caller), and so is a token over TLS without a
// certificate.
func TestCertificateRoleHoldsWithToken(t *testing.T) {
	c := newCluster(t)
	a := tokenAuth(t, nil)
	a.Roles = []Role{RoleClient}
	srvTLS, err := HTTPServerTLS(c.files("master"))
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr, last := serve(t, ServerConfig{TLS: srvTLS, Auth: a})
	web := httptest.NewUnstartedServer(Guard(a, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, PrincipalFrom(r.Context()))
	})))
	web.TLS = srvTLS
	web.StartTLS()
	t.Cleanup(web.Close)
	tokenOnly, err := MasterCAOnlyTLS(filepath.Join(c.dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	withCert := func(name string) *tls.Config {
		t.Helper()
		cfg, err := ClientTLS(c.files(name), "")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	get := func(cfg *tls.Config, token string) (int, string) {
		t.Helper()
		cfg = cfg.Clone()
		cfg.ServerName = "127.0.0.1"
		cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer cl.CloseIdleConnections()
		req, err := http.NewRequest(http.MethodGet, web.URL+"/state", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	roleless := issue(t, c.ca, t.TempDir(), "old", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	roleless.CA = filepath.Join(c.dir, "ca.crt")
	oldCert, err := ClientTLS(roleless, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what    string
		cfg     *tls.Config
		token   string
		want    string     // the principal admitted
		refusal codes.Code // or why it is refused
	}{
		{"agent certificate and a valid token", withCert("agent"), goodSecret, "", codes.PermissionDenied},
		{"master certificate and a valid token", withCert("master"), goodSecret, "", codes.PermissionDenied},
		{"agent certificate alone", withCert("agent"), "", "", codes.PermissionDenied},
		{"certificate without a role and a valid token", oldCert, goodSecret, "", codes.Unauthenticated},
		{"client certificate and a valid token", withCert("framework"), goodSecret, "analytics", codes.OK},
		{"client certificate alone", withCert("framework"), "", "framework", codes.OK},
		{"a valid token without a certificate", tokenOnly, goodSecret, "analytics", codes.OK},
	} {
		httpCode := map[codes.Code]int{codes.OK: http.StatusOK, codes.PermissionDenied: http.StatusForbidden, codes.Unauthenticated: http.StatusUnauthorized}[tc.refusal]
		code, body := get(tc.cfg, tc.token)
		switch {
		case tc.want == "" && (code != httpCode || !strings.Contains(body, "role")):
			t.Errorf("HTTP, %s: %d %s; want %d naming the certificate's role", tc.what, code, body, httpCode)
		case tc.want != "" && (code != http.StatusOK || body != tc.want):
			t.Errorf("HTTP, %s: %d %s; want 200 as %s", tc.what, code, body, tc.want)
		}
		err := check(t, grpcAddr, DialOptions(tc.cfg, tc.token))
		switch p := last(); {
		case tc.want == "" && (status.Code(err) != tc.refusal || !strings.Contains(err.Error(), "role")):
			t.Errorf("gRPC, %s: %v; want %v naming the certificate's role", tc.what, err, tc.refusal)
		case tc.want != "" && (err != nil || p != tc.want):
			t.Errorf("gRPC, %s: %v as %q; want %s", tc.what, err, p, tc.want)
		}
	}
}
