package master_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
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
	agentOpts := mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}}
	ag := mastertest.StartAgent(t, addr1, agentOpts)
	info := mezzo.FrameworkInfo{Name: "a", Role: "analytics", User: "nobody", FailoverTimeout: time.Hour}
	s := mastertest.SubscribeWith(t, addr1, info, as("tok-analytics-secret-0001"))
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
	err := subscribeErr(t, addr, "tok-other-secret-000002", stolen)
	wantDenied(t, "other subscribing the recovered framework", err, `"other"`, string(s.ID))
	if strings.Contains(err.Error(), "analytics") {
		t.Errorf("the refusal %q names the framework's owner", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	other := schedulerClient(t, addr, "tok-other-secret-000002")
	_, err = other.Kill(ctx, &api.KillRequest{Header: &api.CallHeader{FrameworkId: string(s.ID), StreamId: "guessed"}, TaskId: "t1"})
	wantDenied(t, "other killing the recovered framework's task", err, "kill_tasks")
	_, unknownErr := other.Kill(ctx, &api.KillRequest{Header: &api.CallHeader{FrameworkId: "no-such-framework", StreamId: "guessed"}, TaskId: "t1"})
	sameWords(t, "other killing in a known and in an unknown framework", err, s.ID, unknownErr, "no-such-framework")
	if k := ag2.Seen().Kills; len(k) != 0 {
		t.Fatalf("a refused kill reached the agent: %v", k)
	}

	// A scheduler cannot name another principal as its framework's.
	wantDenied(t, "analytics naming principal other",
		subscribeErr(t, addr, "tok-analytics-secret-0001", mezzo.FrameworkInfo{ID: s.ID, Name: "a", Role: "analytics", Principal: "other"}), `"other"`, `"analytics"`)

	// The owner is taken back, and its task is still running.
	info.ID = s.ID
	back := mastertest.SubscribeWith(t, addr, info, as("tok-analytics-secret-0001"))
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
	mastertest.StartAgent(t, addr, mastertest.AgentOptions{ID: "m0-A0001", Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")},
		Running: []*api.RunningTask{runningTask(fw.ID, "t1")}, Frameworks: []mezzo.FrameworkInfo{fw}})
	wantDenied(t, "other re-subscribing its framework held in role analytics with a request for role *",
		subscribeErr(t, addr, "tok-other-secret-000002", mezzo.FrameworkInfo{ID: fw.ID, Name: "o", Role: "*"}), `"other"`, "register_frameworks", `"analytics"`)
}

// A framework rebuilt from an agent that recorded no principal (launched
// by a master that did not record owners) goes to nobody while
// authentication is on, and a framework ID the master does not know is
// asked to retry while agents may still bring it back, then refused in
// the words another principal's framework gets.
func TestUnknownAndOwnerlessFrameworkIDs(t *testing.T) {
	_, addr := startSecuredWith(t, master.Config{HA: master.HAConfig{RecoveryTimeout: 300 * time.Millisecond}})
	old := mezzo.FrameworkInfo{ID: "fw-old", Name: "old", Role: "analytics", FailoverTimeout: time.Hour}
	mastertest.StartAgent(t, addr, mastertest.AgentOptions{ID: "m0-A0001", Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")},
		Running: []*api.RunningTask{runningTask(old.ID, "t1")}, Frameworks: []mezzo.FrameworkInfo{old}})
	if err := subscribeErr(t, addr, "tok-analytics-secret-0001", mezzo.FrameworkInfo{ID: "fw-made-up", Name: "x", Role: "analytics"}); status.Code(err) != codes.Unavailable {
		t.Errorf("an unknown framework ID just after the master started: %v, want Unavailable (retry: its agents may not be back)", err)
	}
	ownerless := subscribeErr(t, addr, "tok-analytics-secret-0001", mezzo.FrameworkInfo{ID: old.ID, Name: "old", Role: "analytics"})
	wantDenied(t, "analytics subscribing a framework recovered without a principal", ownerless, string(old.ID))
	// Retried, as a scheduler would, until the master's window ends.
	var unknown error
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		unknown = subscribeErr(t, addr, "tok-analytics-secret-0001", mezzo.FrameworkInfo{ID: "fw-made-up", Name: "x", Role: "analytics"})
		if status.Code(unknown) != codes.Unavailable || time.Now().After(deadline) {
			break
		}
	}
	wantDenied(t, "an unknown framework ID once agents had time to come back", unknown, "fw-made-up")
	sameWords(t, "an unknown framework ID and one the caller does not own", unknown, "fw-made-up", ownerless, old.ID)
}

// A principal that may not kill another's tasks gets the same refusal
// over HTTP whether the task it names is live, has ended or was never
// there; one that may kill every framework's tasks is told which.
func TestKillRefusalIsTheSameForLiveEndedAndUnknownTasks(t *testing.T) {
	creds, err := security.ParseCredentials("creds.json", []byte(testCredentials))
	if err != nil {
		t.Fatal(err)
	}
	m, addr := startSecuredWith(t, master.Config{OperatorCredentials: creds})
	base := startHTTP(t, m)
	ag := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}})
	s := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics", User: "nobody"}, as("tok-analytics-secret-0001"))
	if err := s.Accept([]mezzo.OfferID{offerOn(t, s, ag.ID()).ID}, []mezzo.TaskInfo{task("t-live", "cpus:1;mem:32"), task("t-ended", "cpus:1;mem:32")}, mezzo.Filters{}); err != nil {
		t.Fatal(err)
	}
	ag.WaitFor("two launches", wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == 2 })
	ag.Report(s.ID, "t-live", mezzo.TaskRunning, "")
	ag.Report(s.ID, "t-ended", mezzo.TaskFinished, "")
	if st := s.NextUpdate("t-live", wait); st.State != mezzo.TaskRunning {
		t.Fatalf("live: %s", st.State)
	}
	if st := s.NextUpdate("t-ended", wait); st.State != mezzo.TaskFinished {
		t.Fatalf("ended: %s", st.State)
	}

	kill := func(task, query, token string) (int, string) {
		code, body := post(t, base+"/api/v1/tasks/"+task+"/kill"+query, token)
		return code, strings.ReplaceAll(string(body), task, "T")
	}
	for _, query := range []string{"", "?framework=" + string(s.ID)} {
		liveCode, live := kill("t-live", query, "tok-other-secret-000002")
		if liveCode != http.StatusForbidden || !strings.Contains(live, `"other"`) || strings.Contains(live, "analytics") {
			t.Errorf("other killing analytics' live task%s: %d %q; want 403 naming other, not the owner", query, liveCode, live)
		}
		for _, id := range []string{"t-ended", "t-never-there"} {
			if code, body := kill(id, query, "tok-other-secret-000002"); code != liveCode || body != live {
				t.Errorf("other killing task %s%s: %d %q; want what a live task gets: %d %q", id, query, code, body, liveCode, live)
			}
		}
	}
	if code, body := kill("t-never-there", "?framework=no-such-framework", "tok-other-secret-000002"); code != http.StatusForbidden {
		t.Errorf("other naming an unknown framework: %d %q; want 403", code, body)
	}
	// admin may kill tasks of every framework: it is told the truth.
	if code, body := kill("t-ended", "", "tok-admin-secret-000004"); code != http.StatusConflict || !strings.Contains(body, "already ended") {
		t.Errorf("admin killing an ended task: %d %q; want 409 already ended", code, body)
	}
	if code, body := kill("t-never-there", "", "tok-admin-secret-000004"); code != http.StatusNotFound {
		t.Errorf("admin killing an unknown task: %d %q; want 404", code, body)
	}
	if k := ag.Seen().Kills; len(k) != 0 {
		t.Errorf("the agent was asked to kill %v", k)
	}
}

// A kill_tasks grant over another principal's framework lets its holder
// kill, not launch or decline under cover of a batch with a kill in it.
func TestKillGrantCarriesNoOtherCalls(t *testing.T) {
	_, addr := startSecuredWith(t, master.Config{})
	ag := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}})
	s := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics", User: "nobody"}, as("tok-analytics-secret-0001"))
	o := offerOn(t, s, ag.ID())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	launch := &api.Call{Call: &api.Call_Accept{Accept: &api.AcceptRequest{Header: s.Header(), OfferIds: []string{string(o.ID)},
		Operations: []*api.Operation{{Operation: &api.Operation_Launch_{Launch: &api.Operation_Launch{Tasks: []*api.TaskInfo{api.TaskToProto(task("smuggled", "cpus:1;mem:32"))}}}}}}}}
	kill := &api.Call{Call: &api.Call_Kill{Kill: &api.KillRequest{Header: s.Header(), TaskId: "x"}}}
	_, err := schedulerClient(t, addr, "tok-admin-secret-000004").Calls(ctx, &api.CallBatch{Header: s.Header(), Calls: []*api.Call{kill, launch}})
	wantDenied(t, "admin's batch of a kill and a launch in analytics' framework", err, `"admin"`)
	if l := ag.Seen().Launched; len(l) != 0 {
		t.Errorf("admin's batch launched %v in analytics' framework", l)
	}
	if _, err := schedulerClient(t, addr, "tok-admin-secret-000004").Calls(ctx, &api.CallBatch{Header: s.Header(), Calls: []*api.Call{kill}}); err != nil {
		t.Errorf("admin's batch of kills: %v", err)
	}
}

// Subscriptions are rate-limited per principal: one principal's flood is
// refused with ResourceExhausted naming the rate, another's subscription
// goes through.
func TestSubscriptionsRateLimitedPerPrincipal(t *testing.T) {
	m, addr := startSecuredWith(t, master.Config{SubscribeRate: 0.001, SubscribeBurst: 3, MaxFrameworksPerPrincipal: -1})
	for i := 0; i < 3; i++ {
		mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "o", Role: "*"}, as("tok-other-secret-000002"))
	}
	err := subscribeErr(t, addr, "tok-other-secret-000002", mezzo.FrameworkInfo{Name: "o", Role: "*"})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), `"other"`) || !strings.Contains(err.Error(), "0.001 subscriptions/s (burst 3)") {
		t.Errorf("other's fourth subscription: %v; want ResourceExhausted naming other and the rate", err)
	}
	mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics"}, as("tok-analytics-secret-0001"))
	if n := refusedSubscriptions(t, m, "rate"); n != 1 {
		t.Errorf("mezzo_master_subscriptions_refused_total{limit=\"rate\"} = %v, want 1", n)
	}
}

// refusedSubscriptions reads the master's count of subscriptions refused
// for limit.
func refusedSubscriptions(t *testing.T, m *master.Master, limit string) float64 {
	t.Helper()
	fams, err := m.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "mezzo_master_subscriptions_refused_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "limit" && l.GetValue() == limit {
					return s.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A principal may have MaxFrameworksPerPrincipal frameworks registered at
// once; re-subscribing one of them does not count again, and removing one
// makes room.
func TestFrameworksPerPrincipalCapped(t *testing.T) {
	m, addr := startSecuredWith(t, master.Config{MaxFrameworksPerPrincipal: 2})
	first := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "o1", Role: "*", FailoverTimeout: time.Hour}, as("tok-other-secret-000002"))
	mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "o2", Role: "*"}, as("tok-other-secret-000002"))
	err := subscribeErr(t, addr, "tok-other-secret-000002", mezzo.FrameworkInfo{Name: "o3", Role: "*"})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "2 frameworks") || !strings.Contains(err.Error(), "--max-frameworks-per-principal 2") {
		t.Errorf("other's third framework: %v; want ResourceExhausted naming the cap of 2", err)
	}
	mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics"}, as("tok-analytics-secret-0001"))
	// A disconnected framework is still registered; its scheduler comes
	// back under its ID although the principal is at its cap.
	first.Close()
	again := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{ID: first.ID, Name: "o1", Role: "*", FailoverTimeout: time.Hour}, as("tok-other-secret-000002"))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := again.Client.Teardown(ctx, &api.TeardownRequest{Header: again.Header()}); err != nil {
		t.Fatal(err)
	}
	mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "o3", Role: "*"}, as("tok-other-secret-000002"))
	if n := snapshot(t, m).Totals.Frameworks; n != 3 {
		t.Errorf("%d frameworks registered, want 3 (other's two, analytics' one)", n)
	}
	if n := refusedSubscriptions(t, m, "frameworks"); n != 1 {
		t.Errorf("mezzo_master_subscriptions_refused_total{limit=\"frameworks\"} = %v, want 1", n)
	}
}

// A framework may not ask for a failover timeout above the master's
// maximum, nor a negative one: refused with InvalidArgument naming it,
// rather than quietly kept for less than it believes.
func TestFailoverTimeoutBounded(t *testing.T) {
	_, addr := startSecuredWith(t, master.Config{MaxFailoverTimeout: 24 * time.Hour})
	err := subscribeErr(t, addr, "tok-other-secret-000002", mezzo.FrameworkInfo{Name: "o", Role: "*", FailoverTimeout: 365 * 24 * time.Hour})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "8760h") || !strings.Contains(err.Error(), "24h0m0s") {
		t.Errorf("a failover timeout of a year: %v; want InvalidArgument naming it and the maximum 24h", err)
	}
	if err := subscribeErr(t, addr, "tok-other-secret-000002", mezzo.FrameworkInfo{Name: "o", Role: "*", FailoverTimeout: -time.Second}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a negative failover timeout: %v; want InvalidArgument", err)
	}
	mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "o", Role: "*", FailoverTimeout: 24 * time.Hour}, as("tok-other-secret-000002"))
}

// Only the last MaxCompletedFrameworks removed frameworks are remembered:
// registering and tearing down frameworks does not grow the master.
func TestRemovedFrameworksBounded(t *testing.T) {
	m, addr := startMaster(t, master.Config{MaxCompletedFrameworks: 3})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var ids []mezzo.FrameworkID
	for i := 0; i < 5; i++ {
		s := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "short-lived"})
		if _, err := s.Client.Teardown(ctx, &api.TeardownRequest{Header: s.Header()}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	var removed []mezzo.FrameworkID
	for _, f := range snapshot(t, m).Frameworks {
		if f.Removed {
			removed = append(removed, f.ID)
		}
	}
	if want := ids[2:]; fmt.Sprint(removed) != fmt.Sprint(want) {
		t.Errorf("removed frameworks remembered: %v; want the last three, %v", removed, want)
	}
}

func TestLimitsValidated(t *testing.T) {
	for _, c := range []struct {
		cfg   master.Config
		words string
	}{
		{master.Config{FailoverTimeout: 2 * time.Hour, MaxFailoverTimeout: time.Hour}, "above the maximum failover timeout"},
		{master.Config{SubscribeRate: math.NaN()}, "subscription rate"},
		{master.Config{SubscribeRate: math.Inf(1)}, "subscription rate"},
	} {
		if _, err := master.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.words) {
			t.Errorf("master.New(%+v): %v; want an error saying %q", c.cfg, err, c.words)
		}
	}
}

// reportFrameworksOf registers an agent (the shared agent principal, an ID
// a master gave earlier) that reports n frameworks in owner's name, each
// with a running task.
func reportFrameworksOf(t *testing.T, addr, owner string, n int) *mastertest.FakeAgent {
	t.Helper()
	var fws []mezzo.FrameworkInfo
	var running []*api.RunningTask
	for i := range n {
		fw := mezzo.FrameworkInfo{ID: mezzo.FrameworkID(fmt.Sprintf("fw-invented-%d", i)), Name: "x", Role: "analytics", Principal: owner, FailoverTimeout: time.Hour}
		fws = append(fws, fw)
		running = append(running, runningTask(fw.ID, "t"))
	}
	return mastertest.StartAgent(t, addr, mastertest.AgentOptions{ID: "m0-A0001", Hostname: "h", Resources: "cpus:8;mem:1024",
		DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}, Running: running, Frameworks: fws})
}

// Frameworks an agent reports in a principal's name do not fill that
// principal's cap (any holder of the agents' certificate may report
// them), also after a failover; the principal's own registrations count.
func TestReportedFrameworksDoNotFillTheCap(t *testing.T) {
	e := startEtcd(t)
	cfg := haConfig(e, "m1", time.Minute)
	cfg.MaxFrameworksPerPrincipal = 2
	m1, addr1 := startSecuredWith(t, cfg)
	leads(t, m1)
	agent := reportFrameworksOf(t, addr1, "analytics", 3)
	mine := mastertest.SubscribeWith(t, addr1, mezzo.FrameworkInfo{Name: "a1", Role: "analytics", FailoverTimeout: time.Hour}, as("tok-analytics-secret-0001"))
	mastertest.SubscribeWith(t, addr1, mezzo.FrameworkInfo{Name: "a2", Role: "analytics"}, as("tok-analytics-secret-0001")).Close()
	if err := subscribeErr(t, addr1, "tok-analytics-secret-0001", mezzo.FrameworkInfo{Name: "a3", Role: "analytics"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("analytics' third framework of its own: %v; want ResourceExhausted (its own two count)", err)
	}
	waitRegistry(t, e, "the three reported frameworks and analytics' two", map[string]int64{"/mezzo/frameworks/": 5})
	id, secret := agent.ID(), agent.Secret()
	agent.Kill()
	mine.Close()
	m1.Crash()

	cfg.MasterID = "m2"
	m2, addr2 := startSecuredWith(t, cfg)
	leads(t, m2)
	mastertest.StartAgent(t, addr2, mastertest.AgentOptions{ID: id, Secret: secret, Hostname: "h", Resources: "cpus:8;mem:1024",
		DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}})
	// analytics' two (rebuilt from the registry) count, the three
	// reported ones do not: one teardown makes room for exactly one.
	if err := subscribeErr(t, addr2, "tok-analytics-secret-0001", mezzo.FrameworkInfo{Name: "a3", Role: "analytics"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("after the failover, analytics' third framework: %v; want ResourceExhausted", err)
	}
	back := mastertest.SubscribeWith(t, addr2, mezzo.FrameworkInfo{ID: mine.ID, Name: "a1", Role: "analytics", FailoverTimeout: time.Hour}, as("tok-analytics-secret-0001"))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := back.Client.Teardown(ctx, &api.TeardownRequest{Header: back.Header()}); err != nil {
		t.Fatal(err)
	}
	mastertest.SubscribeWith(t, addr2, mezzo.FrameworkInfo{Name: "a3", Role: "analytics"}, as("tok-analytics-secret-0001"))
	if err := subscribeErr(t, addr2, "tok-analytics-secret-0001", mezzo.FrameworkInfo{Name: "a4", Role: "analytics"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("after the failover, analytics' framework over its cap: %v; want ResourceExhausted", err)
	}
	if n := len(snapshot(t, m2).Frameworks); n != 6 {
		t.Errorf("%d frameworks on the new leader, want 6 (three reported, two of analytics, one torn down)", n)
	}
}

// The cap holds as frameworks come and go: a removed one makes room for
// one, a re-subscription does not count again, and a failover keeps the
// count (the frameworks rebuilt from the registry count).
func TestFrameworkCapAcrossRemovalsAndFailover(t *testing.T) {
	e := startEtcd(t)
	cfg := haConfig(e, "m1", time.Minute)
	cfg.MaxFrameworksPerPrincipal = 2
	m1, addr1 := startSecuredWith(t, cfg)
	leads(t, m1)
	sub := func(addr, name string, id mezzo.FrameworkID) *mastertest.Scheduler {
		return mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{ID: id, Name: name, Role: "*", FailoverTimeout: time.Hour}, as("tok-other-secret-000002"))
	}
	refused := func(what, addr string) {
		t.Helper()
		if err := subscribeErr(t, addr, "tok-other-secret-000002", mezzo.FrameworkInfo{Name: "over", Role: "*"}); status.Code(err) != codes.ResourceExhausted {
			t.Errorf("%s: a framework over the cap: %v; want ResourceExhausted", what, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	teardown := func(s *mastertest.Scheduler) {
		t.Helper()
		if _, err := s.Client.Teardown(ctx, &api.TeardownRequest{Header: s.Header()}); err != nil {
			t.Fatal(err)
		}
	}
	o1 := sub(addr1, "o1", "")
	o2 := sub(addr1, "o2", "")
	refused("two registered", addr1)
	teardown(o2)
	o3 := sub(addr1, "o3", "")
	refused("one torn down, one more registered", addr1)
	o1.Close()
	o1 = sub(addr1, "o1", o1.ID)
	refused("one re-subscribed", addr1)
	waitRegistry(t, e, "other's two frameworks", map[string]int64{"/mezzo/frameworks/": 2})
	o1.Close()
	o3.Close()
	m1.Crash()

	cfg.MasterID = "m2"
	m2, addr2 := startSecuredWith(t, cfg)
	leads(t, m2)
	refused("after the failover", addr2)
	o1 = sub(addr2, "o1", o1.ID)
	refused("after the failover, one re-subscribed", addr2)
	teardown(o1)
	sub(addr2, "o5", "")
	refused("after the failover, one torn down and one more registered", addr2)
}
