package master_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
)

// agentClient is a raw AgentAPI client, an impostor's.
func agentClient(t *testing.T, addr string) api.AgentAPIClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return api.NewAgentAPIClient(conn)
}

// registerAs subscribes with req and returns the first event's error (nil
// once Registered came), and the event.
func registerAs(t *testing.T, c api.AgentAPIClient, req *api.AgentSubscribeRequest) (*api.AgentEvent_Registered, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	stream, err := c.Subscribe(ctx, req)
	if err != nil {
		return nil, err
	}
	ev, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	return ev.GetRegistered(), nil
}

func randomSecret(t *testing.T) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func agentReq(id, secret string) *api.AgentSubscribeRequest {
	return &api.AgentSubscribeRequest{Agent: &api.AgentInfo{AgentId: id, Hostname: "impostor",
		Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:2;mem:256"))}, AgentSecret: secret}
}

// TestImpostorAgentRefused: a machine that names a live agent's ID (no
// secret, or a made-up one; same principal, as agents share certificates)
// is refused, and the agent keeps its registration and its running task.
func TestImpostorAgentRefused(t *testing.T) {
	_, addr, agent, s := runningT1(t, "victim", "cpus:2;mem:512")
	if agent.Secret() == "" {
		t.Fatalf("the master issued agent %s no secret", agent.ID())
	}
	c := agentClient(t, addr)
	for _, secret := range []string{"", randomSecret(t)} {
		_, err := registerAs(t, c, agentReq(string(agent.ID()), secret))
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "agent secret") {
			t.Fatalf("impostor with secret %q: %v, want PermissionDenied naming the agent secret", secret, err)
		}
	}
	// The victim's session is still the current one (its update is
	// applied) and nothing was said lost before it.
	agent.Report(s.ID, "t1", mezzo.TaskFinished, "")
	if st := s.NextUpdate("t1", wait); st.State != mezzo.TaskFinished {
		t.Fatalf("t1 after the impostor: %s %s (%s), want TASK_FINISHED from its agent", st.State, st.Reason, st.Message)
	}
}

// TestAgentWithItsSecretReregisters: the agent itself, with its secret, is
// taken back (the same ID, no new secret issued).
func TestAgentWithItsSecretReregisters(t *testing.T) {
	_, addr := startMaster(t, master.Config{})
	a := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: "cpus:2;mem:256"})
	a.Kill()
	reg, err := registerAs(t, agentClient(t, addr), &api.AgentSubscribeRequest{Agent: &api.AgentInfo{AgentId: string(a.ID()), Hostname: "h1",
		Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:2;mem:256"))}, AgentSecret: a.Secret()})
	if err != nil || reg.AgentId != string(a.ID()) || reg.AgentSecret != "" {
		t.Fatalf("re-registration with the secret: %v %v, want the same ID and no new secret", reg, err)
	}
}

// TestAgentIDsOfAnotherFormatRefused: agent IDs the master never hands
// out, and unbounded host names and attributes, are refused with the
// rule.
func TestAgentIDsOfAnotherFormatRefused(t *testing.T) {
	_, addr := startMaster(t, master.Config{})
	c := agentClient(t, addr)
	long := make([]byte, 4000)
	_, _ = rand.Read(long)
	bad := []struct {
		name string
		req  *api.AgentSubscribeRequest
		want string
	}{
		{"path", agentReq("garbage-id/../x", ""), "not of the master's format"},
		{"4000 characters", agentReq(hex.EncodeToString(long)[:4000], ""), "the limit is 64"},
		{"hostname", &api.AgentSubscribeRequest{Agent: &api.AgentInfo{Hostname: strings.Repeat("h", 300),
			Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:1"))}}, "agent hostname is 300 bytes; the limit is 255"},
		{"control", &api.AgentSubscribeRequest{Agent: &api.AgentInfo{Hostname: "h\x1b[2J",
			Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:1"))}}, "control character"},
		{"attribute", &api.AgentSubscribeRequest{Agent: &api.AgentInfo{Hostname: "h", Attributes: []*api.Attribute{{Name: "rack", Value: strings.Repeat("v", 2000)}},
			Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:1"))}}, "the limit is 1024"},
	}
	for _, b := range bad {
		_, err := registerAs(t, c, b.req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: %v, want InvalidArgument with %q", b.name, err, b.want)
		}
	}
}

// TestAgentSecretSurvivesFailover: the next leader knows the agent's
// secret from the registry: an impostor is refused there too, the agent
// itself taken back.
func TestAgentSecretSurvivesFailover(t *testing.T) {
	e := startEtcd(t)
	m1, addr1 := startMaster(t, haConfig(e, "m1", time.Minute))
	leads(t, m1)
	a := mastertest.StartAgent(t, addr1, mastertest.AgentOptions{Hostname: "a", Resources: "cpus:2;mem:256"})
	s1 := mastertest.Subscribe(t, addr1, mezzo.FrameworkInfo{Name: "f"})
	waitRegistry(t, e, "the agent", map[string]int64{"/mezzo/agents/": 1})
	id, secret := a.ID(), a.Secret()
	_, addr2 := failOver(t, e, m1, a, s1)
	c := agentClient(t, addr2)
	if _, err := registerAs(t, c, agentReq(string(id), randomSecret(t))); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("impostor at the next leader: %v, want PermissionDenied", err)
	}
	back := mastertest.StartAgent(t, addr2, mastertest.AgentOptions{ID: id, Secret: secret, Hostname: "a", Resources: "cpus:2;mem:256"})
	if back.ID() != id {
		t.Fatalf("back as %s, want %s", back.ID(), id)
	}
}

// TestOldAgentRecordsBindOnFirstUse: a registry written before agents had
// secrets (the value a plain host name) still loads; the first secret an
// agent of it presents is bound, and another is refused afterwards.
func TestOldAgentRecordsBindOnFirstUse(t *testing.T) {
	e := startEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(t.Context(), "/mezzo/agents/m0-A0001", "oldhost"); err != nil {
		t.Fatal(err)
	}
	m, addr := startMaster(t, haConfig(e, "m1", time.Minute))
	leads(t, m)
	c := agentClient(t, addr)
	mine := randomSecret(t)
	if _, err := registerAs(t, c, agentReq("m0-A0001", mine)); err != nil {
		t.Fatalf("the old registry's agent: %v", err)
	}
	if _, err := registerAs(t, c, agentReq("m0-A0001", randomSecret(t))); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("another secret after first use: %v, want PermissionDenied", err)
	}
	// Registry writes are asynchronous: wait for the record to be rewritten.
	deadline := time.Now().Add(wait)
	for {
		r, err := cli.Get(t.Context(), "/mezzo/agents/m0-A0001")
		if err == nil && len(r.Kvs) == 1 && strings.Contains(string(r.Kvs[0].Value), `"secret_sha256":"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the record after first use: %v %v, want one with the secret's digest", r, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRegistrationInParts: an agent registers in parts (Register); the
// merged registration is applied as one: its running tasks are adopted
// (an agent a master gave its ID earlier: one without an ID runs
// nothing).
func TestRegistrationInParts(t *testing.T) {
	_, addr := startMaster(t, master.Config{})
	s := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "f"})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := agentClient(t, addr).Register(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parts := []*api.AgentSubscribeRequest{
		{Agent: &api.AgentInfo{AgentId: "m0-A0001", Hostname: "h", Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:4;mem:1024"))}},
		{Tasks: []*api.RunningTask{runningTask(s.ID, "p1")}},
		{Tasks: []*api.RunningTask{runningTask(s.ID, "p2")}},
	}
	for i, p := range parts {
		if err := stream.Send(&api.AgentRegisterPart{Part: p, Last: i == len(parts)-1}); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := stream.Recv()
	if err != nil || ev.GetRegistered() == nil || ev.GetRegistered().AgentSecret == "" {
		t.Fatalf("registration in parts: %v %v", ev, err)
	}
	if _, err := s.Client.Reconcile(ctx, &api.ReconcileRequest{Header: s.Header(), Tasks: []*api.ReconcileRequest_Task{{TaskId: "p1"}, {TaskId: "p2"}}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []mezzo.TaskID{"p1", "p2"} {
		if st := s.NextUpdate(id, wait); st.State != mezzo.TaskRunning || string(st.AgentID) != ev.GetRegistered().AgentId {
			t.Errorf("%s after registration in parts: %s on %s, want running on %s", id, st.State, st.AgentID, ev.GetRegistered().AgentId)
		}
	}
}

// TestRegistrationInPartsBounded: parts past the bound end the call.
func TestRegistrationInPartsBounded(t *testing.T) {
	_, addr := startMaster(t, master.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := agentClient(t, addr).Register(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sendErr error
	for i := 0; i < 5000 && sendErr == nil; i++ {
		sendErr = stream.Send(&api.AgentRegisterPart{Part: &api.AgentSubscribeRequest{}})
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "4096 parts") {
		t.Fatalf("5,000 parts: %v (send: %v), want ResourceExhausted naming the bound", err, sendErr)
	}
}

// registerInParts registers with req's agent and, after it, parts of
// junk task data adding up to about dataBytes, and returns the first
// event's error (nil once Registered came).
func registerInParts(t *testing.T, c api.AgentAPIClient, agent *api.AgentInfo, dataBytes int) (*api.AgentEvent_Registered, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	stream, err := c.Register(ctx)
	if err != nil {
		return nil, err
	}
	const part = 3 << 20 // under the master's 4 MiB message limit
	data := make([]byte, part)
	parts := []*api.AgentSubscribeRequest{{Agent: agent}}
	for n := 0; n < dataBytes; n += part {
		parts = append(parts, &api.AgentSubscribeRequest{Tasks: []*api.RunningTask{{FrameworkId: "f", Task: &api.TaskInfo{TaskId: "t", Data: data}}}})
	}
	for i, p := range parts {
		if err := stream.Send(&api.AgentRegisterPart{Part: p, Last: i == len(parts)-1}); err != nil {
			break // the master ended the call; Recv says why
		}
	}
	ev, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	return ev.GetRegistered(), nil
}

// TestRefusedRegistrationsInPartsFreeTheirBytes: registrations in parts
// the master refuses (a host name it does not accept) give their bytes
// back to the principal's budget, however many there are: the agents
// sharing the principal's certificate can still register in parts.
func TestRefusedRegistrationsInPartsFreeTheirBytes(t *testing.T) {
	_, addr := startMaster(t, master.Config{})
	c := agentClient(t, addr)
	res := api.ResourcesToProto(mezzo.MustParseResources("cpus:1;mem:64"))
	// Five refusals of 60 MiB each are more than the 256 MiB a principal
	// may have staged at once.
	for i := 0; i < 5; i++ {
		_, err := registerInParts(t, c, &api.AgentInfo{Hostname: "bad\x1bhost", Resources: res}, 60<<20)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "hostname") {
			t.Fatalf("registration %d with a bad host name: %v, want InvalidArgument naming the host name", i+1, err)
		}
	}
	if _, err := registerInParts(t, c, &api.AgentInfo{Hostname: "good", Resources: res}, 20<<20); err != nil {
		t.Fatalf("a valid registration in parts after the refusals: %v", err)
	}
}
