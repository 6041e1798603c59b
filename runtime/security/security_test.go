package security

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// cluster is a CA with files for a server and for clients, in a temp dir.
type cluster struct {
	dir string
	ca  *CA
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	if _, err := InitDir(dir, InitOptions{}); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{dir: dir, ca: ca}
}

func (c *cluster) files(name string) TLSFiles {
	return TLSFiles{Cert: filepath.Join(c.dir, name+".crt"), Key: filepath.Join(c.dir, name+".key"), CA: filepath.Join(c.dir, "ca.crt")}
}

// issue writes a client certificate signed by ca, valid from..to.
func issue(t *testing.T, ca *CA, dir, principal string, from, to time.Time) TLSFiles {
	t.Helper()
	c, k, err := ca.Issue(CertSpec{Principal: principal, Client: true, NotBefore: from, NotAfter: to})
	if err != nil {
		t.Fatal(err)
	}
	f := TLSFiles{Cert: filepath.Join(dir, principal+".crt"), Key: filepath.Join(dir, principal+".key")}
	if err := os.WriteFile(f.Cert, c, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Key, k, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// serve runs a health server with the given security and records the
// principal of the last call.
func serve(t *testing.T, sc ServerConfig) (addr string, last func() string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 100)
	opts := append(ServerOptions(sc), grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		seen <- PrincipalFrom(ctx)
		return h(ctx, req)
	}))
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), func() string {
		select {
		case p := <-seen:
			return p
		default:
			return "<no call>"
		}
	}
}

func check(t *testing.T, addr string, opts []grpc.DialOption) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestMutualTLS(t *testing.T) {
	c := newCluster(t)
	stc, err := ServerTLS(c.files("master"))
	if err != nil {
		t.Fatal(err)
	}
	addr, last := serve(t, ServerConfig{TLS: stc, Auth: &Authenticator{Required: true}})
	clientTLS := func(f TLSFiles) []grpc.DialOption {
		t.Helper()
		f.CA = filepath.Join(c.dir, "ca.crt")
		cfg, err := ClientTLS(f, "")
		if err != nil {
			t.Fatal(err)
		}
		return DialOptions(cfg, "")
	}

	if err := check(t, addr, clientTLS(c.files("framework"))); err != nil {
		t.Fatalf("good certificate refused: %v", err)
	}
	if p := last(); p != "framework" {
		t.Errorf("principal = %q, want framework", p)
	}

	noCert := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: mustPool(t, filepath.Join(c.dir, "ca.crt"))}
	if err := check(t, addr, DialOptions(noCert, "")); err == nil {
		t.Error("a client without a certificate got through")
	}

	other, err := NewCA("other", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := check(t, addr, clientTLS(issue(t, other, t.TempDir(), "framework", time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))); err == nil {
		t.Error("a certificate from another CA got through")
	}
	expired := issue(t, c.ca, t.TempDir(), "framework", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	if err := check(t, addr, clientTLS(expired)); err == nil {
		t.Error("an expired certificate got through")
	}
	if err := check(t, addr, DialOptions(nil, "")); err == nil {
		t.Error("a plaintext client got through")
	}
	if p := last(); p != "<no call>" {
		t.Errorf("a refused connection reached the handler as %q", p)
	}

	// A client verifying the server against another CA refuses it too.
	wrongCA := c.files("framework")
	caFile := filepath.Join(t.TempDir(), "other.crt")
	if err := os.WriteFile(caFile, other.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	wrongCA.CA = caFile
	cfg, err := ClientTLS(wrongCA, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := check(t, addr, DialOptions(cfg, "")); err == nil {
		t.Error("client accepted a server signed by a CA it does not trust")
	}
}

func mustPool(t *testing.T, path string) *x509CertPool {
	t.Helper()
	p, err := LoadCAPool(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokens(t *testing.T) {
	creds, err := ParseCredentials("creds.json", []byte(`{"credentials":[{"principal":"analytics","secret":"s3cret-analytics-key"},{"principal":"ops","secret":"0ps-secret-value-1234"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	addr, last := serve(t, ServerConfig{Auth: &Authenticator{Credentials: creds, Required: true}})
	if err := check(t, addr, DialOptions(nil, "s3cret-analytics-key")); err != nil {
		t.Fatalf("good token refused: %v", err)
	}
	if p := last(); p != "analytics" {
		t.Errorf("principal = %q, want analytics", p)
	}
	for _, tok := range []string{"wrong", "s3cret-analytics-ke", "s3cret-analytics-key ", "0ps-secret-value-12340"} {
		err := check(t, addr, DialOptions(nil, tok))
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("token %q: %v, want Unauthenticated", tok, err)
		}
		if err != nil && strings.Contains(err.Error(), tok) {
			t.Errorf("error quotes the token: %v", err)
		}
	}
	if err := check(t, addr, DialOptions(nil, "")); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no credentials: %v, want Unauthenticated", err)
	}
	if p := last(); p != "<no call>" {
		t.Errorf("refused calls reached the handler as %q", p)
	}
}

func TestACLExample(t *testing.T) {
	acl, err := LoadACL("testdata/acl.example.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		p      string
		a      Action
		obj    string
		allows bool
	}{
		{"analytics", RegisterFramework, "analytics", true},
		{"analytics", RegisterFramework, "*", false},
		{"framework", RegisterFramework, "batch", true},
		{"framework", RegisterFramework, "analytics", false},
		{"analytics", RunTask, "nobody", true},
		{"analytics", RunTask, "root", false},
		{"admin", TeardownFramework, "analytics", true},
		{"analytics", TeardownFramework, "framework", false},
		{"admin", KillTask, "framework", true},
		{"framework", KillTask, "analytics", false},
		{"agent", RegisterAgent, "", true},
		{"framework", RegisterAgent, "", false},
		{"anyone", ViewState, "", true},
		{"", ViewState, "", false}, // ANY is any authenticated principal
		{"framework", ReadSandbox, "analytics", false},
		{"admin", DrainAgent, "", true},
		{"framework", DrainAgent, "", false},
		{"stranger", RegisterFramework, "*", false},
	}
	for _, c := range cases {
		err := acl.Allow(ctx, c.p, c.a, c.obj)
		if (err == nil) != c.allows {
			t.Errorf("Allow(%q, %s, %q) = %v, want allowed=%v", c.p, c.a, c.obj, err, c.allows)
		}
		if err != nil {
			if !IsDenied(err) || status.Code(err) != codes.PermissionDenied {
				t.Errorf("denial %v is not a PermissionDenied DeniedError", err)
			}
			if c.p != "" && !strings.Contains(err.Error(), c.p) || !strings.Contains(err.Error(), string(c.a)) {
				t.Errorf("denial %q does not name principal and action", err)
			}
		}
	}
	if err := (AllowAll{}).Allow(ctx, "", RunTask, "root"); err != nil {
		t.Errorf("AllowAll denied: %v", err)
	}
}

func TestACLErrors(t *testing.T) {
	cases := map[string]string{
		`{"run_tasks": [{"principals": ["a"]}]}`:                          `run_tasks[0]: no "users"`,
		`{"run_tasks": [{"principals": ["a"], "roles": ["r"]}]}`:          `"roles" does not apply to run_tasks`,
		`{"launch_rockets": []}`:                                          `unknown action "launch_rockets"`,
		`{"register_agents": [{"users": ["x"]}]}`:                         `register_agents[0]: no principals`,
		`{"register_agents": [{"principals": ["a"], "users": ["x"]}]}`:    `takes principals only`,
		`{"register_agents": [{"principals": ["a"], "colour": "blue"}]}`:  `unknown field "colour"`,
		"{\n\"run_tasks\": [\n{\"principals\": [1]}]}":                    `line 3`,
		`{"register_agents": [{"principals": ["a"]}]} {}`:                 `trailing data`,
		`{"register_frameworks": [{"principals": [""], "roles": ["r"]}]}`: `empty principal`,
	}
	for in, want := range cases {
		_, err := ParseACL("acl.json", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "acl.json") {
			t.Errorf("ParseACL(%s) = %v, want an error naming the file and containing %q", in, err, want)
		}
	}
}

func TestCredentialsErrors(t *testing.T) {
	cases := map[string]string{
		`{"credentials": []}`:                                   "no credentials",
		`{"credentials": [{"principal": "a"}]}`:                 `credentials[0] (principal "a") has no secret`,
		`{"credentials": [{"secret": "topsecret-0123456789"}]}`: "credentials[0] has no principal",
		`{"credentials": [{"principal": "a", "secret": "topsecret-0123456789"}, {"principal": "b", "secret": "topsecret-0123456789"}]}`: `reuses the secret of principal "a"`,
		`{"credentials": [{"principal": "a", "secret": "topsecret-0123456789", "x": 1}]}`:                                               `unknown field "x"`,
	}
	for in, want := range cases {
		_, err := ParseCredentials("c.json", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCredentials(%s) = %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "topsecret-0123456789") {
			t.Errorf("error quotes a secret: %v", err)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(10, 5, func() time.Time { return now })
	got := 0
	for i := 0; i < 100; i++ {
		if l.Allow("flood") {
			got++
		}
	}
	if got != 5 {
		t.Errorf("burst let %d calls through, want 5", got)
	}
	if !l.Allow("other") {
		t.Error("one principal's flood limited another")
	}
	now = now.Add(time.Second)
	got = 0
	for i := 0; i < 100; i++ {
		if l.Allow("flood") {
			got++
		}
	}
	if got != 5 { // refilled 10 tokens, capped at the burst
		t.Errorf("after 1 s, %d calls went through, want 5 (burst cap)", got)
	}
	now = now.Add(300 * time.Millisecond)
	got = 0
	for i := 0; i < 100; i++ {
		if l.Allow("flood") {
			got++
		}
	}
	if got != 3 {
		t.Errorf("after 0.3 s at 10/s, %d calls went through, want 3", got)
	}
}

func TestLimiterInterceptor(t *testing.T) {
	addr, _ := serve(t, ServerConfig{Limiter: NewLimiter(0.001, 2, nil)})
	var codesSeen []codes.Code
	for i := 0; i < 4; i++ {
		codesSeen = append(codesSeen, status.Code(check(t, addr, DialOptions(nil, ""))))
	}
	want := []codes.Code{codes.OK, codes.OK, codes.ResourceExhausted, codes.ResourceExhausted}
	for i := range want {
		if codesSeen[i] != want[i] {
			t.Fatalf("codes = %v, want %v", codesSeen, want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr          string
		tls, insecure bool
		ok            bool
	}{
		{"127.0.0.1:5050", false, false, true},
		{"[::1]:5050", false, false, true},
		{"localhost:5050", false, false, true},
		{"0.0.0.0:5050", false, false, false},
		{":5050", false, false, false},
		{"10.1.2.3:5050", false, false, false},
		{"10.1.2.3:5050", true, false, true},
		{"10.1.2.3:5050", false, true, true},
	} {
		err := CheckListen(c.addr, c.tls, c.insecure)
		if (err == nil) != c.ok {
			t.Errorf("CheckListen(%q, tls=%v, insecure=%v) = %v", c.addr, c.tls, c.insecure, err)
		}
		if err != nil && !errors.Is(err, ErrPlaintextOnNetwork) {
			t.Errorf("error %v does not say why", err)
		}
	}
}

func TestInitDir(t *testing.T) {
	dir := t.TempDir()
	files, err := InitDir(dir, InitOptions{Principals: []string{"analytics"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 12 {
		t.Errorf("wrote %d files, want 12: %v", len(files), files)
	}
	for _, name := range []string{"master", "agent", "framework", "admin", "analytics"} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if p := PrincipalFromCert(mustLeaf(t, pair)); p != name {
			t.Errorf("%s.crt names principal %q", name, p)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "ca.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode: %v %v", st.Mode(), err)
	}
	if _, err := InitDir(dir, InitOptions{}); err == nil || !strings.Contains(err.Error(), "already holds a CA") {
		t.Errorf("second InitDir over the same dir: %v", err)
	}
}
