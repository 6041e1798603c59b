package master_test

import (
	"context"
	"strings"
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

// startSecuredWith is startSecured (tokens required, testACL) with more
// of the master's configuration.
func startSecuredWith(t *testing.T, cfg master.Config) (*master.Master, string) {
	t.Helper()
	creds, err := security.ParseCredentials("creds.json", []byte(testCredentials))
	if err != nil {
		t.Fatal(err)
	}
	acl, err := security.ParseACL("acl.json", []byte(testACL))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerOptions = security.ServerOptions(security.ServerConfig{Auth: &security.Authenticator{Credentials: creds, Required: true}})
	cfg.Authorizer = acl
	return startMaster(t, cfg)
}

// sameWords compares two refusals with the framework IDs they were about
// blanked out: a stranger must not tell them apart.
func sameWords(t *testing.T, what string, a error, aID mezzo.FrameworkID, b error, bID mezzo.FrameworkID) {
	t.Helper()
	sa, sb := status.Convert(a), status.Convert(b)
	ma := strings.ReplaceAll(sa.Message(), string(aID), "F")
	mb := strings.ReplaceAll(sb.Message(), string(bID), "F")
	if sa.Code() != sb.Code() || ma != mb {
		t.Errorf("%s: %v %q and %v %q differ", what, sa.Code(), ma, sb.Code(), mb)
	}
}

// A master restarted without etcd rebuilds a framework from its agent,
// owned by the principal the agent recorded with the launch: another
// principal that knows the framework's ID cannot subscribe it, act for it
// or hold it in a role of its own, and the owner gets it back with its
// task still running.
func TestRecoveredFrameworkGoesOnlyToItsPrincipal(t *testing.T) {
	m1, addr1 := startSecuredWith(t, master.Config{})
	agentOpts := mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent")}}
	ag := mastertest.StartAgent(t, addr1, agentOpts)
	info := mezzo.FrameworkInfo{Name: "a", Role: "analytics", User: "nobody", FailoverTimeout: time.Hour}
	s := mastertest.SubscribeWith(t, addr1, info, as("tok-analytics"))
	if err := s.Accept([]mezzo.OfferID{s.TakeOffers(wait)[0].ID}, []mezzo.TaskInfo{{ID: "t1", Resources: mezzo.MustParseResources("cpus:1;mem:32")}}, mezzo.Filters{}); err != nil {
		t.Fatal(err)
	}
	launch := ag.WaitFor("t1 launched", wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == 1 }).Launched[0]
	if launch.Info.Principal != "analytics" || launch.Info.ID != s.ID {
		t.Errorf("the launch carried framework %q of principal %q; want %s of analytics, for the agent to keep", launch.Info.ID, launch.Info.Principal, s.ID)
	}
	ag.Report(s.ID, "t1", mezzo.TaskRunning, "")
	s.NextUpdate("t1", wait)
	ag.Kill()
	s.Close()
	m1.Crash()

	_, addr := startSecuredWith(t, master.Config{})
	agentOpts.ID = ag.ID()
	agentOpts.Running = []*api.RunningTask{runningTask(s.ID, "t1")}
	agentOpts.Frameworks = []mezzo.FrameworkInfo{launch.Info}
	ag2 := mastertest.StartAgent(t, addr, agentOpts)

	// "other" may register in role "*": it passes the role check with its
	// own request, and must be refused on ownership alone.
	stolen := mezzo.FrameworkInfo{ID: s.ID, Name: "a", Role: "*"}
	err := subscribeErr(t, addr, "tok-other", stolen)
	wantDenied(t, "other subscribing the recovered framework", err, `"other"`, string(s.ID))
	if strings.Contains(err.Error(), "analytics") {
		t.Errorf("the refusal %q names the framework's owner", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	other := schedulerClient(t, addr, "tok-other")
	_, err = other.Kill(ctx, &api.KillRequest{Header: &api.CallHeader{FrameworkId: string(s.ID), StreamId: "guessed"}, TaskId: "t1"})
	wantDenied(t, "other killing the recovered framework's task", err, "kill_tasks")
	_, unknownErr := other.Kill(ctx, &api.KillRequest{Header: &api.CallHeader{FrameworkId: "no-such-framework", StreamId: "guessed"}, TaskId: "t1"})
	sameWords(t, "other killing in a known and in an unknown framework", err, s.ID, unknownErr, "no-such-framework")
	if k := ag2.Seen().Kills; len(k) != 0 {
		t.Fatalf("a refused kill reached the agent: %v", k)
	}

	// A scheduler cannot name another principal as its framework's.
	wantDenied(t, "analytics naming principal other",
		subscribeErr(t, addr, "tok-analytics", mezzo.FrameworkInfo{ID: s.ID, Name: "a", Role: "analytics", Principal: "other"}), `"other"`, `"analytics"`)

	// The owner is taken back, and its task is still running.
	info.ID = s.ID
	back := mastertest.SubscribeWith(t, addr, info, as("tok-analytics"))
	if _, err := back.Client.Reconcile(ctx, &api.ReconcileRequest{Header: back.Header()}); err != nil {
		t.Fatal(err)
	}
	if st := back.NextUpdate("t1", wait); st.State != mezzo.TaskRunning {
		t.Errorf("t1 after the owner's re-subscription: %s, want TASK_RUNNING", st.State)
	}
}

// A re-subscription is authorized for the role the framework holds, not
// only the role the request names (which does not change it).
func TestResubscribeNeedsTheHeldRole(t *testing.T) {
	_, addr := startSecuredWith(t, master.Config{})
	// The agent recorded a framework of "other" in role "analytics",
	// which the ACL does not let "other" register in (any more).
	fw := mezzo.FrameworkInfo{ID: "fw-other", Name: "o", Role: "analytics", Principal: "other", FailoverTimeout: time.Hour}
	mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent")},
		Running: []*api.RunningTask{runningTask(fw.ID, "t1")}, Frameworks: []mezzo.FrameworkInfo{fw}})
	wantDenied(t, "other re-subscribing its framework held in role analytics with a request for role *",
		subscribeErr(t, addr, "tok-other", mezzo.FrameworkInfo{ID: fw.ID, Name: "o", Role: "*"}), `"other"`, "register_frameworks", `"analytics"`)
}

// A framework rebuilt from an agent that recorded no principal (launched
// by a master that did not record owners) goes to nobody while
// authentication is on, and a framework ID the master does not know is
// asked to retry while agents may still bring it back, then refused in
// the words another principal's framework gets.
func TestUnknownAndOwnerlessFrameworkIDs(t *testing.T) {
	_, addr := startSecuredWith(t, master.Config{HA: master.HAConfig{RecoveryTimeout: 300 * time.Millisecond}})
	old := mezzo.FrameworkInfo{ID: "fw-old", Name: "old", Role: "analytics", FailoverTimeout: time.Hour}
	mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent")},
		Running: []*api.RunningTask{runningTask(old.ID, "t1")}, Frameworks: []mezzo.FrameworkInfo{old}})
	if err := subscribeErr(t, addr, "tok-analytics", mezzo.FrameworkInfo{ID: "fw-made-up", Name: "x", Role: "analytics"}); status.Code(err) != codes.Unavailable {
		t.Errorf("an unknown framework ID just after the master started: %v, want Unavailable (retry: its agents may not be back)", err)
	}
	ownerless := subscribeErr(t, addr, "tok-analytics", mezzo.FrameworkInfo{ID: old.ID, Name: "old", Role: "analytics"})
	wantDenied(t, "analytics subscribing a framework recovered without a principal", ownerless, string(old.ID))
	// Retried, as a scheduler would, until the master's window ends.
	var unknown error
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		unknown = subscribeErr(t, addr, "tok-analytics", mezzo.FrameworkInfo{ID: "fw-made-up", Name: "x", Role: "analytics"})
		if status.Code(unknown) != codes.Unavailable || time.Now().After(deadline) {
			break
		}
	}
	wantDenied(t, "an unknown framework ID once agents had time to come back", unknown, "fw-made-up")
	sameWords(t, "an unknown framework ID and one the caller does not own", unknown, "fw-made-up", ownerless, old.ID)
}
