package master_test

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// Principals of the secured test cluster and their bearer tokens.
const testCredentials = `{"credentials": [
  {"principal": "analytics", "secret": "tok-analytics-secret-0001"},
  {"principal": "other", "secret": "tok-other-secret-000002"},
  {"principal": "agent", "secret": "tok-agent-secret-000003"},
  {"principal": "admin", "secret": "tok-admin-secret-000004"}
]}`

const testACL = `{
  "register_frameworks": [
    {"principals": ["analytics"], "roles": ["analytics"]},
    {"principals": ["other"], "roles": ["*"]}
  ],
  "run_tasks": [{"principals": ["analytics", "other"], "users": ["nobody"]}],
  "kill_tasks": [{"principals": ["admin"], "framework_principals": ["ANY"]}],
  "teardown_frameworks": [{"principals": ["admin"], "framework_principals": ["ANY"]}],
  "register_agents": [{"principals": ["agent"]}]
}`

// startSecured runs a master that authenticates bearer tokens (required)
// and authorizes with testACL; limiter, when set, rate-limits the
// scheduler calls.
func startSecured(t *testing.T, limiter *security.Limiter, extra ...grpc.ServerOption) (*master.Master, string) {
	t.Helper()
	creds, err := security.ParseCredentials("creds.json", []byte(testCredentials))
	if err != nil {
		t.Fatal(err)
	}
	acl, err := security.ParseACL("acl.json", []byte(testACL))
	if err != nil {
		t.Fatal(err)
	}
	opts := security.ServerOptions(security.ServerConfig{
		Auth:           &security.Authenticator{Credentials: creds, Required: true},
		Limiter:        limiter,
		LimitedMethods: master.LimitedMethods,
	})
	return startMaster(t, master.Config{ServerOptions: append(opts, extra...), Authorizer: acl})
}

// as dials with a bearer token (none for "").
func as(token string) grpc.DialOption {
	opts := security.DialOptions(nil, token)
	return opts[len(opts)-1]
}

func schedulerClient(t *testing.T, addr, token string) api.SchedulerAPIClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), as(token))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return api.NewSchedulerAPIClient(conn)
}

// subscribeErr subscribes and returns the error of the first event.
func subscribeErr(t *testing.T, addr, token string, info mezzo.FrameworkInfo) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := schedulerClient(t, addr, token).Subscribe(ctx, &api.SubscribeRequest{Framework: api.FrameworkToProto(info)})
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

func wantDenied(t *testing.T, what string, err error, mustName ...string) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("%s: %v, want PermissionDenied", what, err)
		return
	}
	for _, s := range mustName {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q does not name %q", what, err, s)
		}
	}
}

func TestRegisterFrameworkOnlyInAllowedRoles(t *testing.T) {
	_, addr := startSecured(t, nil)
	wantDenied(t, "analytics in role *", subscribeErr(t, addr, "tok-analytics-secret-0001", mezzo.FrameworkInfo{Name: "a"}), "analytics", "register_frameworks", `"*"`)
	wantDenied(t, "other in role analytics", subscribeErr(t, addr, "tok-other-secret-000002", mezzo.FrameworkInfo{Name: "o", Role: "analytics"}), "other")
	if err := subscribeErr(t, addr, "tok-wrong", mezzo.FrameworkInfo{Name: "a", Role: "analytics"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong token: %v, want Unauthenticated", err)
	}
	if err := subscribeErr(t, addr, "", mezzo.FrameworkInfo{Name: "a", Role: "analytics"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v, want Unauthenticated", err)
	}
	s := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics"}, as("tok-analytics-secret-0001"))
	// Another principal cannot take the framework over by its ID.
	wantDenied(t, "other re-subscribing as analytics' framework",
		subscribeErr(t, addr, "tok-other-secret-000002", mezzo.FrameworkInfo{ID: s.ID, Name: "a", Role: "*"}), string(s.ID))
}

func TestRegisterAgentNeedsACL(t *testing.T) {
	_, addr := startSecured(t, nil)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), as("tok-other-secret-000002"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := api.NewAgentAPIClient(conn).Subscribe(ctx, &api.AgentSubscribeRequest{
		Agent: &api.AgentInfo{Hostname: "h", Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:1;mem:64"))}})
	if err == nil {
		_, err = stream.Recv()
	}
	wantDenied(t, "agent registered by principal other", err, "other", "register_agents")
	mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:1;mem:64", DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}})
}

func TestTasksRunOnlyAsAllowedUsers(t *testing.T) {
	_, addr := startSecured(t, nil)
	ag := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}})
	s := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics", User: "nobody"}, as("tok-analytics-secret-0001"))
	offers := s.TakeOffers(wait)
	task := func(id, user string) mezzo.TaskInfo {
		return mezzo.TaskInfo{ID: mezzo.TaskID(id), Resources: mezzo.MustParseResources("cpus:1;mem:32"),
			Command: &mezzo.CommandInfo{Value: "id -u", Shell: true, User: user}}
	}
	if err := s.Accept([]mezzo.OfferID{offers[0].ID}, []mezzo.TaskInfo{task("root-task", "root"), task("default-user", "")}, mezzo.Filters{}); err != nil {
		t.Fatal(err)
	}
	st := s.NextUpdate("root-task", wait)
	if st.State != mezzo.TaskError || !strings.Contains(st.Message, "run_tasks") || !strings.Contains(st.Message, `"root"`) {
		t.Errorf("task as root: %v %q, want TASK_ERROR naming run_tasks and root", st.State, st.Message)
	}
	seen := ag.WaitFor("the allowed task launched", wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == 1 })
	got := seen.Launched[0].Task
	if got.ID != "default-user" || got.Command == nil || got.Command.User != "nobody" {
		t.Errorf("launched %+v, want default-user with the framework's user nobody in its command", got)
	}
}

func TestPrincipalCannotActOnOthersFramework(t *testing.T) {
	_, addr := startSecured(t, nil)
	ag := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}})
	s := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics", User: "nobody"}, as("tok-analytics-secret-0001"))
	offers := s.TakeOffers(wait)
	if err := s.Accept([]mezzo.OfferID{offers[0].ID}, []mezzo.TaskInfo{{ID: "t1", Resources: mezzo.MustParseResources("cpus:1;mem:32")}}, mezzo.Filters{}); err != nil {
		t.Fatal(err)
	}
	ag.WaitFor("t1 launched", wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// "other" knows analytics' framework and stream IDs (the worst case).
	other := schedulerClient(t, addr, "tok-other-secret-000002")
	_, err := other.Kill(ctx, &api.KillRequest{Header: s.Header(), TaskId: "t1"})
	wantDenied(t, "other killing analytics' task", err, "other", "kill_tasks")
	if strings.Contains(err.Error(), "analytics") {
		t.Errorf("the refusal %q names the framework's owner", err)
	}
	_, err = other.Teardown(ctx, &api.TeardownRequest{Header: s.Header()})
	wantDenied(t, "other tearing down analytics' framework", err, "other", "teardown_frameworks")
	_, err = other.Revive(ctx, &api.ReviveRequest{Header: s.Header()})
	wantDenied(t, "other reviving analytics' framework", err, string(s.ID))
	if k := ag.Seen().Kills; len(k) != 0 {
		t.Fatalf("a denied kill reached the agent: %v", k)
	}
	// The ACL lets admin kill anyone's tasks.
	if _, err := schedulerClient(t, addr, "tok-admin-secret-000004").Kill(ctx, &api.KillRequest{Header: s.Header(), TaskId: "t1"}); err != nil {
		t.Fatalf("admin kill: %v", err)
	}
	ag.WaitFor("admin's kill", wait, func(s mastertest.AgentSeen) bool { return len(s.Kills) == 1 })
}

// A master serving mutual TLS refuses clients without a certificate from
// its CA, and knows clients with one by their certificate's principal.
func TestMasterMutualTLS(t *testing.T) {
	dir := t.TempDir()
	if _, err := security.InitDir(dir, security.InitOptions{Principals: []string{"analytics"}}); err != nil {
		t.Fatal(err)
	}
	files := func(name string) security.TLSFiles {
		return security.TLSFiles{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, "ca.crt")}
	}
	stls, err := security.ServerTLS(files("master"))
	if err != nil {
		t.Fatal(err)
	}
	acl, err := security.ParseACL("acl.json", []byte(testACL))
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startMaster(t, master.Config{Authorizer: acl,
		ServerOptions: security.ServerOptions(security.ServerConfig{TLS: stls, Auth: &security.Authenticator{Required: true}})})
	ctls, err := security.ClientTLS(files("analytics"), "")
	if err != nil {
		t.Fatal(err)
	}
	s := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics"}, security.DialOptions(ctls, "")...)
	if s.ID == "" {
		t.Fatal("no framework ID")
	}
	// No certificate at all: the handshake fails.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := api.NewSchedulerAPIClient(conn).Subscribe(ctx, &api.SubscribeRequest{Framework: &api.FrameworkInfo{Name: "x", Role: "analytics"}})
	if err == nil {
		_, err = stream.Recv()
	}
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a plaintext client without a certificate: %v, want refused", err)
	}
}

// TestHandshakeTimeoutGoverns: a master configured with a 1 s handshake
// timeout closes a connection that never speaks within about that, well
// before the 10 s default, also when its server options come from
// security.ServerOptions (which carry a connection timeout of their own).
func TestHandshakeTimeoutGoverns(t *testing.T) {
	opts := security.ServerOptions(security.ServerConfig{Auth: &security.Authenticator{}})
	_, addr := startMaster(t, master.Config{ServerOptions: opts, HandshakeTimeout: time.Second})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	// Bounded well under the default: a read that times out means the
	// master still holds the connection.
	_ = conn.SetReadDeadline(start.Add(security.DefaultHandshakeTimeout - 3*time.Second))
	_, err = io.Copy(io.Discard, conn) // until the master closes it
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a silent connection was still open after %v; want it closed after the 1 s handshake timeout", time.Since(start).Round(time.Millisecond))
	}
}
