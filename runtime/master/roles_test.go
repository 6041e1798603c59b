package master_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// rolesCluster is a master serving mutual TLS with certificates from
// `mezzo certs init` (master, agent, framework, admin, analytics), and no
// ACL: whatever is refused below is refused for the certificate's role,
// not for its principal.
type rolesCluster struct {
	dir  string
	addr string
	m    *master.Master
}

func startRolesMaster(t *testing.T, cfg master.Config) *rolesCluster {
	t.Helper()
	dir := t.TempDir()
	if _, err := security.InitDir(dir, security.InitOptions{Principals: []string{"analytics"}}); err != nil {
		t.Fatal(err)
	}
	c := &rolesCluster{dir: dir}
	stls, err := security.ServerTLS(c.files("master"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerOptions = security.ServerOptions(security.ServerConfig{TLS: stls, Auth: &security.Authenticator{Required: true}})
	c.m, c.addr = startMaster(t, cfg)
	return c
}

func (c *rolesCluster) files(name string) security.TLSFiles {
	return security.TLSFiles{Cert: filepath.Join(c.dir, name+".crt"), Key: filepath.Join(c.dir, name+".key"), CA: filepath.Join(c.dir, "ca.crt")}
}

// as dials the master with name's certificate.
func (c *rolesCluster) as(t *testing.T, name string) *grpc.ClientConn {
	t.Helper()
	cfg, err := security.ClientTLS(c.files(name), "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.addr, security.DialOptions(cfg, "")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// firstEvent opens a stream and reads its first event, returning the
// refusal if any.
func firstEvent(open func(ctx context.Context) (interface{ Recv() (any, error) }, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := open(ctx)
	if err != nil {
		return err
	}
	_, err = s.Recv()
	return err
}

type recv[T any] struct {
	s interface{ Recv() (T, error) }
}

func (r recv[T]) Recv() (any, error) { return r.s.Recv() }

func (c *rolesCluster) subscribeFramework(t *testing.T, cert string) error {
	t.Helper()
	cli := api.NewSchedulerAPIClient(c.as(t, cert))
	return firstEvent(func(ctx context.Context) (interface{ Recv() (any, error) }, error) {
		s, err := cli.Subscribe(ctx, &api.SubscribeRequest{Framework: &api.FrameworkInfo{Name: "fw-" + cert}})
		return recv[*api.SchedulerEvent]{s}, err
	})
}

func (c *rolesCluster) registerAgent(t *testing.T, cert string) error {
	t.Helper()
	cli := api.NewAgentAPIClient(c.as(t, cert))
	return firstEvent(func(ctx context.Context) (interface{ Recv() (any, error) }, error) {
		s, err := cli.Subscribe(ctx, &api.AgentSubscribeRequest{Agent: &api.AgentInfo{Hostname: "h-" + cert,
			Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:1;mem:64"))}})
		return recv[*api.AgentEvent]{s}, err
	})
}

// A certificate's role decides which of the master's services it may
// call, even without an ACL: the agent's certificate registers agents and
// no framework, clients' certificates frameworks and no agent, and the
// master's own certificate neither.
func TestMasterChecksCertificateRoles(t *testing.T) {
	c := startRolesMaster(t, master.Config{})
	if err := c.registerAgent(t, "agent"); err != nil {
		t.Fatalf("agent certificate registering an agent: %v", err)
	}
	if err := c.subscribeFramework(t, "analytics"); err != nil {
		t.Fatalf("client certificate subscribing a framework: %v", err)
	}
	for _, tc := range []struct {
		what string
		err  error
		role string
	}{
		{"agent certificate subscribing a framework", c.subscribeFramework(t, "agent"), "role agent"},
		{"master certificate subscribing a framework", c.subscribeFramework(t, "master"), "role master"},
		{"client certificate registering an agent", c.registerAgent(t, "framework"), "role client"},
		{"master certificate registering an agent", c.registerAgent(t, "master"), "role master"},
	} {
		if status.Code(tc.err) != codes.PermissionDenied || !strings.Contains(tc.err.Error(), tc.role) {
			t.Errorf("%s: %v; want PermissionDenied naming its %s", tc.what, tc.err, tc.role)
		}
	}
	// Unary calls are checked too, not only the streams.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := api.NewAgentAPIClient(c.as(t, "admin")).Pong(ctx, &api.PongRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("client certificate calling AgentAPI.Pong: %v; want PermissionDenied", err)
	}
}

// A certificate without a role (made before roles were bound) is refused
// with the way out: issue the certificates again.
func TestMasterRefusesCertificatesWithoutRole(t *testing.T) {
	c := startRolesMaster(t, master.Config{})
	ca, err := security.LoadCA(filepath.Join(c.dir, "ca.crt"), filepath.Join(c.dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, key, err := ca.Issue(security.CertSpec{Principal: "old", Client: true, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range map[string][]byte{c.files("old").Cert: cert, c.files("old").Key: key} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	err = c.subscribeFramework(t, "old")
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "mezzo certs init") {
		t.Fatalf("certificate without a role: %v; want Unauthenticated saying to run mezzo certs init", err)
	}
}

// The sandbox proxy speaks only to agents: an agent whose --http shows a
// certificate of the cluster's CA bound to another role (the master's
// key, say) gets no request, and the operator is told why.
func TestSandboxProxyRefusesAServerThatIsNotAnAgent(t *testing.T) {
	dir := t.TempDir()
	if _, err := security.InitDir(dir, security.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	files := func(name string) security.TLSFiles {
		return security.TLSFiles{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, "ca.crt")}
	}
	var hits atomic.Int64
	rogueTLS, err := security.ServerTLS(files("master"))
	if err != nil {
		t.Fatal(err)
	}
	rogue := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "forged sandbox")
	}))
	rogue.TLS = rogueTLS
	rogue.StartTLS()
	t.Cleanup(rogue.Close)
	// The caller builds AgentTLS as for a master: the proxy checks the
	// agent role whatever the configuration's own check.
	toAgents, err := security.ClientTLS(files("master"), "")
	if err != nil {
		t.Fatal(err)
	}
	m, addr := startMaster(t, master.Config{HTTP: master.HTTPSecurity{AgentTLS: toAgents}})
	m.SetViewMaxAge(0)
	httpAddr, err := m.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ag := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:1;mem:64",
		Attributes: []mezzo.Attribute{{Name: master.AgentHTTPAttribute, Value: rogue.Listener.Addr().String()}}})
	s := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a"})
	resp, err := http.Get(fmt.Sprintf("http://%s/sandbox/%s/%s/ex/stdout", httpAddr, ag.ID(), s.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "is not a mezzo agent") || !strings.Contains(string(body), "role master") {
		t.Errorf("sandbox through a server with the master's certificate: %d %q; want 502 saying it is not an agent", resp.StatusCode, body)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server that is not an agent got %d requests", n)
	}
}
