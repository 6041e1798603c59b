package attack

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// rogueRecorder is what a master started with the agent's key saw: every
// call that reached it, and every Authorization value among them.
type rogueRecorder struct {
	mu     sync.Mutex
	calls  []string
	tokens []string
}

func (r *rogueRecorder) record(ctx context.Context, method string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, method)
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		r.tokens = append(r.tokens, md.Get("authorization")...)
	}
}

func (r *rogueRecorder) seen() ([]string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...), append([]string(nil), r.tokens...)
}

// startRogueMaster runs a real mezzo master in this process, as an
// attacker's own build would, serving mutual TLS with the agent's
// certificate and key (every agent holds them), taking any token, and
// recording what reaches it. It returns its gRPC and HTTPS addresses.
func startRogueMaster(t *testing.T, c *cluster) (string, string, *rogueRecorder) {
	t.Helper()
	rec := &rogueRecorder{}
	files := security.TLSFiles{Cert: c.cert("agent"), Key: c.key("agent"), CA: c.ca()}
	stls, err := security.ServerTLS(files)
	if err != nil {
		t.Fatal(err)
	}
	stls.ClientAuth = tls.VerifyClientCertIfGiven // token clients welcome
	opts := security.ServerOptions(security.ServerConfig{TLS: stls})
	opts = append(opts,
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			rec.record(ctx, info.FullMethod)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			rec.record(ss.Context(), info.FullMethod)
			return h(srv, ss)
		}))
	htls, err := security.HTTPServerTLS(files)
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", ServerOptions: opts, HTTP: master.HTTPSecurity{TLS: htls},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	// Its HTTPS records bearer tokens too.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.calls = append(rec.calls, "HTTP "+r.URL.Path)
		rec.tokens = append(rec.tokens, r.Header.Values("Authorization")...)
		rec.mu.Unlock()
		m.Handler().ServeHTTP(w, r)
	}))
	srv.TLS = htls
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return addr, srv.Listener.Addr().String(), rec
}

// Item 3: the agent's certificate does not work as a master's. A master
// run with the agent's key (which every agent host holds) is refused by a
// real agent, a real scheduler with a client certificate, a token-only
// scheduler and a token-only operator: every one fails the TLS handshake
// because the certificate is bound to the agent role, and no call and no
// token reaches the rogue. The real mezzo binary refuses to serve with
// that certificate at all, and the real master refuses the agent's
// certificate as a scheduler and tenants' certificates as agents.
func TestAgentCertificateCannotActAsMaster(t *testing.T) {
	slow(t)
	c := newCluster(t, clusterOptions{})
	rogueAddr, rogueHTTP, rec := startRogueMaster(t, c)

	// A real agent pointed at the rogue never registers with it.
	ag := start(t, "agent-to-rogue", "agent", "--master", rogueAddr, "--resources", "cpus:1;mem:64",
		"--work-dir", filepath.Join(c.dir, "rogue-agent"), "--isolation", "process",
		"--tls-cert", c.cert("agent"), "--tls-key", c.key("agent"), "--tls-ca", c.ca())
	// A real scheduler with tenant-a's client certificate, and one with
	// tenant-a's token only.
	withCert := start(t, "execute-cert-to-rogue", "execute", "--master", rogueAddr, "--user", "nobody", "--role", "a",
		"--tls-cert", c.cert(tenantA), "--tls-key", c.key(tenantA), "--tls-ca", c.ca(), "--", "id -u")
	withToken := start(t, "execute-token-to-rogue", "execute", "--master", rogueAddr, "--user", "nobody", "--role", "a",
		"--tls-ca", c.ca(), "--token-file", c.tokenFile(tenantA), "--", "id -u")
	notMaster := "is not a mezzo master"
	clients := []*proc{ag, withCert, withToken}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		calls, _ := rec.seen()
		refused := 0
		for _, p := range clients {
			if strings.Contains(p.Output(), notMaster) {
				refused++
			}
		}
		if refused == len(clients) || len(calls) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range clients {
		if !strings.Contains(p.Output(), notMaster) {
			t.Errorf("%s did not refuse the rogue master as not a master:\n%s", p.Name, tail(p.Output(), 20))
		}
	}
	// The operator commands, token only, against the rogue's HTTPS.
	out, code := runMezzo(t, 20*time.Second, "status", "--master-http", rogueHTTP, "--tls-ca", c.ca(), "--token-file", c.tokenFile(admin))
	if code == 0 || !strings.Contains(out, notMaster) {
		t.Errorf("mezzo status against the rogue: exit %d\n%s\nwant a refusal saying it is not a master", code, out)
	}
	calls, tokens := rec.seen()
	if len(calls) > 0 || len(tokens) > 0 {
		t.Errorf("the rogue master received %d calls (%v) and %d tokens", len(calls), calls, len(tokens))
	}
	for _, tok := range tokens {
		for p, secret := range c.tokens {
			if strings.Contains(tok, secret) {
				t.Errorf("the rogue master holds %s's token", p)
			}
		}
	}

	// The real master: the agent's certificate registers no framework, a
	// tenant's certificate no agent.
	_, err := subscribe(t, c.dial("agent"), mezzo.FrameworkInfo{Name: "agent-as-scheduler", Role: "a", User: "nobody"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "role agent") {
		t.Errorf("agent certificate subscribing a framework: %v; want PermissionDenied naming its role", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := api.NewAgentAPIClient(c.dial(tenantB)).Subscribe(ctx, &api.AgentSubscribeRequest{Agent: &api.AgentInfo{Hostname: "tenant-b-agent",
		Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:64;mem:65536"))}})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "role client") {
		t.Errorf("tenant-b's certificate registering an agent: %v; want PermissionDenied naming its role", err)
	}
	if !strings.Contains(c.master.Output(), `msg="authentication failed"`) {
		t.Errorf("the master logged no failed authentication for the wrong roles:\n%s", c.master.Output())
	}

	// The binary itself will not be that master.
	out, code = runMezzo(t, 20*time.Second, "master", "--listen", "127.0.0.1:0",
		"--tls-cert", c.cert("agent"), "--tls-key", c.key("agent"), "--tls-ca", c.ca())
	if code == 0 || !strings.Contains(out, "--tls-cert") || !strings.Contains(out, "role agent") {
		t.Errorf("mezzo master with the agent's certificate: exit %d\n%s\nwant a refusal naming --tls-cert and its role", code, out)
	}
}
