package master_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/etcdtest"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
)

// recoveringLeader is a new leader (on a real, embedded etcd) waiting for
// the agents of the leader it replaced: agent A is back, agent B not yet.
// A ran task "a1" of framework fw, B ran "b1" and "b2"; the framework has
// re-subscribed.
type recoveringLeader struct {
	m       *master.Master
	addr    string
	a, b    mezzo.AgentID
	bSecret string
	s       *mastertest.Scheduler
	running func(ids ...mezzo.TaskID) []*api.RunningTask
}

// runningTask is a task of fw an agent reports running (cpus:1;mem:64).
func runningTask(fw mezzo.FrameworkID, id mezzo.TaskID) *api.RunningTask {
	return &api.RunningTask{FrameworkId: string(fw), State: api.StateToProto(mezzo.TaskRunning),
		Task: api.TaskToProto(mezzo.TaskInfo{ID: id, Resources: mezzo.MustParseResources("cpus:1;mem:64")})}
}

// failOver crashes leader m with its agent and its scheduler, as a
// machine failure would, and returns the master elected next on e.
func failOver(t *testing.T, e *etcdtest.Server, m *master.Master, a *mastertest.FakeAgent, s *mastertest.Scheduler) (*master.Master, string) {
	t.Helper()
	a.Kill()
	s.Close()
	m.Crash()
	next, addr := startMaster(t, haConfig(e, "m2", time.Minute))
	leads(t, next)
	return next, addr
}

// startEtcd runs an embedded etcd for one test.
func startEtcd(t *testing.T) *etcdtest.Server {
	t.Helper()
	e, err := etcdtest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// haConfig is a master elected on e that waits for every agent, at most
// recoveryTimeout, after it wins.
func haConfig(e *etcdtest.Server, id string, recoveryTimeout time.Duration) master.Config {
	return master.Config{MasterID: id, PingInterval: time.Second, PingTimeout: 10 * time.Second,
		HA: master.HAConfig{Etcd: e.Endpoints(), LeaseTTL: time.Second, RecoveryFraction: 1, RecoveryTimeout: recoveryTimeout}}
}

// leads waits until m leads.
func leads(t *testing.T, m *master.Master) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !(m.Leader() && m.Epoch() > 0) {
		if time.Now().After(deadline) {
			t.Fatal("no leader elected in 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// etcdCount counts the keys under prefix.
func etcdCount(t *testing.T, e *etcdtest.Server, prefix string) int64 {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	r, err := cli.Get(t.Context(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return r.Count
}

func startRecoveringLeader(t *testing.T, recoveryTimeout time.Duration) *recoveringLeader {
	t.Helper()
	e := startEtcd(t)
	m1, addr1 := startMaster(t, haConfig(e, "m1", recoveryTimeout))
	leads(t, m1)
	info := mezzo.FrameworkInfo{Name: "fw", FailoverTimeout: time.Hour}
	s1 := mastertest.Subscribe(t, addr1, info)
	info.ID = s1.ID
	running := func(ids ...mezzo.TaskID) []*api.RunningTask {
		var out []*api.RunningTask
		for _, id := range ids {
			out = append(out, runningTask(info.ID, id))
		}
		return out
	}
	res := "cpus:4;mem:1024"
	// Agents a master gave IDs to earlier (an agent without one runs
	// nothing).
	a := mastertest.StartAgent(t, addr1, mastertest.AgentOptions{ID: "m0-A0001", Hostname: "a", Resources: res, Running: running("a1")})
	b := mastertest.StartAgent(t, addr1, mastertest.AgentOptions{ID: "m0-A0002", Hostname: "b", Resources: res, Running: running("b1", "b2")})

	// The registry must hold both agents and the framework before the crash.
	waitRegistry(t, e, "both agents and the framework", map[string]int64{"/mezzo/agents/": 2, "/mezzo/frameworks/": 1})
	aID, bID, aSecret, bSecret := a.ID(), b.ID(), a.Secret(), b.Secret()
	a.Kill()
	b.Kill()
	s1.Close()
	m1.Crash()

	m2, addr2 := startMaster(t, haConfig(e, "m2", recoveryTimeout))
	leads(t, m2)
	mastertest.StartAgent(t, addr2, mastertest.AgentOptions{ID: aID, Secret: aSecret, Hostname: "a", Resources: res, Running: running("a1")})
	s2 := mastertest.Subscribe(t, addr2, info)
	return &recoveringLeader{m: m2, addr: addr2, a: aID, b: bID, bSecret: bSecret, s: s2, running: running}
}

// waitRegistry waits until etcd holds want[prefix] keys under each prefix.
func waitRegistry(t *testing.T, e *etcdtest.Server, what string, want map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for p, n := range want {
			ok = ok && etcdCount(t, e, p) == n
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry does not hold %s after 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// updatesUntil returns the updates the framework receives until every
// task in last has had one, with how many each task got. Events on the
// stream keep the order of the calls that caused them, so an answer held
// back is known not to have come before those.
func updatesUntil(t *testing.T, s *mastertest.Scheduler, last ...mezzo.TaskID) (map[mezzo.TaskID]mezzo.TaskStatus, map[mezzo.TaskID]int) {
	t.Helper()
	got, n := map[mezzo.TaskID]mezzo.TaskStatus{}, map[mezzo.TaskID]int{}
	missing := func() bool {
		for _, id := range last {
			if n[id] == 0 {
				return true
			}
		}
		return false
	}
	for missing() {
		ev := s.Next("an update", 30*time.Second, func(ev *api.SchedulerEvent) bool { return ev.GetUpdate() != nil })
		st, err := api.StatusFromProto(ev.GetUpdate().Status)
		if err != nil {
			t.Fatal(err)
		}
		got[st.TaskID] = st
		n[st.TaskID]++
	}
	return got, n
}

func reconcile(t *testing.T, s *mastertest.Scheduler, tasks ...*api.ReconcileRequest_Task) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client.Reconcile(ctx, &api.ReconcileRequest{Header: s.Header(), Tasks: tasks}); err != nil {
		t.Fatal(err)
	}
}

func want(t *testing.T, got map[mezzo.TaskID]mezzo.TaskStatus, id mezzo.TaskID, state mezzo.TaskState, msg string) {
	t.Helper()
	st, ok := got[id]
	switch {
	case !ok:
		t.Errorf("no answer for %s; want %s", id, state)
	case st.State != state || st.Reason != mezzo.ReasonReconciliation || !strings.Contains(st.Message, msg):
		t.Errorf("%s answered %s (%s, %q); want %s, reconciliation, message with %q", id, st.State, st.Reason, st.Message, state, msg)
	}
}

// TestReconcileWhileRecovering: while the new leader waits for agents, it
// answers for the tasks it knows and for tasks named on agents that are
// back, and holds the rest (it must not call a task lost whose agent may
// still come back); when the agent returns, the held tasks are answered
// with their state, explicit and implicit alike, and a task named on it
// that it does not run is lost.
func TestReconcileWhileRecovering(t *testing.T) {
	r := startRecoveringLeader(t, 5*time.Minute)
	s := r.s
	a, b := string(r.a), string(r.b)

	reconcile(t, s,
		&api.ReconcileRequest_Task{TaskId: "a1", AgentId: a},
		&api.ReconcileRequest_Task{TaskId: "b1", AgentId: b},
		&api.ReconcileRequest_Task{TaskId: "b2"},
		&api.ReconcileRequest_Task{TaskId: "x-on-a", AgentId: a},
		&api.ReconcileRequest_Task{TaskId: "x-on-b", AgentId: b},
		&api.ReconcileRequest_Task{TaskId: "b3", AgentId: b})
	reconcile(t, s) // implicit
	reconcile(t, s, &api.ReconcileRequest_Task{TaskId: "sentinel", AgentId: a})
	got, n := updatesUntil(t, s, "sentinel")
	if n["a1"] != 2 {
		t.Errorf("a1 answered %d times; want 2 (explicit and implicit)", n["a1"])
	}
	want(t, got, "a1", mezzo.TaskRunning, "")
	want(t, got, "x-on-a", mezzo.TaskLost, "unknown")
	want(t, got, "sentinel", mezzo.TaskLost, "unknown")
	for _, id := range []mezzo.TaskID{"b1", "b2", "b3", "x-on-b"} {
		if st, ok := got[id]; ok {
			t.Errorf("%s answered %s (%q) while its agent may still come back", id, st.State, st.Message)
		}
	}
	if p, err := r.m.Progress(t.Context()); err != nil || !p.HA.RecoveredAt.IsZero() {
		t.Fatalf("the leader stopped waiting for agent %s (%v): the window under test closed", b, err)
	}

	// B comes back running b1 and b2; b3 finished meanwhile, its
	// TASK_FINISHED not yet acknowledged: B still reports it, ended.
	onB := r.running("b1", "b2", "b3")
	onB[2].State = api.StateToProto(mezzo.TaskFinished)
	mastertest.StartAgent(t, r.addr, mastertest.AgentOptions{ID: r.b, Secret: r.bSecret, Hostname: "b", Resources: "cpus:4;mem:1024", Running: onB})
	got, n = updatesUntil(t, s, "b1", "b2", "b3", "x-on-b")
	want(t, got, "b1", mezzo.TaskRunning, "")
	want(t, got, "b2", mezzo.TaskRunning, "")
	want(t, got, "b3", mezzo.TaskFinished, "")
	want(t, got, "x-on-b", mezzo.TaskLost, "re-registered without it")
	if len(n) != 4 || n["b1"] != 1 || n["b2"] != 1 || n["b3"] != 1 || n["x-on-b"] != 1 {
		t.Errorf("answers when %s came back: %v; want b1, b2, b3, x-on-b once each", b, n)
	}
}

// TestReconcileHeldUntilRecoveryTimeout: held tasks of an agent that does
// not come back are answered TASK_LOST when the wait for it ends.
func TestReconcileHeldUntilRecoveryTimeout(t *testing.T) {
	const timeout = 5 * time.Second
	r := startRecoveringLeader(t, timeout)
	s := r.s
	reconcile(t, s,
		&api.ReconcileRequest_Task{TaskId: "b1", AgentId: string(r.b)},
		&api.ReconcileRequest_Task{TaskId: "b2"})
	if p, err := r.m.Progress(t.Context()); err != nil || !p.HA.RecoveredAt.IsZero() {
		t.Skipf("the %v recovery wait ended before the reconciliation was held (loaded machine?)", timeout)
	}
	got, _ := updatesUntil(t, s, "b1", "b2")
	want(t, got, "b1", mezzo.TaskLost, "did not re-register")
	want(t, got, "b2", mezzo.TaskLost, "not reported by any agent")
	if p, err := r.m.Progress(t.Context()); err != nil || p.HA.RecoveredAt.IsZero() || !p.HA.TimedOut {
		t.Errorf("answered before the recovery wait timed out: %+v, %v", p.HA, err)
	}
}

// TestKillWhileRecovering: a kill of a task the new leader does not know
// yet is held while agents may still bring the task back: carried out on
// the agent that returns with it, answered unknown once every agent is
// back without it — never TASK_LOST before.
func TestKillWhileRecovering(t *testing.T) {
	r := startRecoveringLeader(t, 5*time.Minute)
	s := r.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range []string{"b1", "ghost"} {
		if _, err := s.Client.Kill(ctx, &api.KillRequest{Header: s.Header(), TaskId: id}); err != nil {
			t.Fatal(err)
		}
	}
	reconcile(t, s, &api.ReconcileRequest_Task{TaskId: "sentinel", AgentId: string(r.a)})
	got, _ := updatesUntil(t, s, "sentinel")
	for _, id := range []mezzo.TaskID{"b1", "ghost"} {
		if st, ok := got[id]; ok {
			t.Errorf("kill of %s answered %s (%q) while its agent may still come back", id, st.State, st.Message)
		}
	}

	b := mastertest.StartAgent(t, r.addr, mastertest.AgentOptions{ID: r.b, Secret: r.bSecret, Hostname: "b", Resources: "cpus:4;mem:1024", Running: r.running("b1", "b2")})
	b.WaitFor("the held kill of b1", 30*time.Second, func(seen mastertest.AgentSeen) bool {
		return len(seen.Kills) == 1 && seen.Kills[0] == "b1"
	})
	got, _ = updatesUntil(t, s, "ghost")
	if st := got["ghost"]; st.State != mezzo.TaskLost || st.Reason != mezzo.ReasonTaskUnknown {
		t.Errorf("kill of ghost after every agent is back: %s %s; want TASK_LOST %s", st.State, st.Reason, mezzo.ReasonTaskUnknown)
	}
	if st, ok := got["b1"]; ok {
		t.Errorf("b1 answered %s before its agent reported the kill", st.State)
	}
}

// TestDeclaredLostSurvivesFailover: a TASK_LOST a leader said on its own
// (here, for a task it did not know) binds the next leader too: the agent
// that turns up with the task after the failover is told to kill it, and
// the framework hears TASK_LOST again, not the agent's end.
func TestDeclaredLostSurvivesFailover(t *testing.T) {
	e := startEtcd(t)
	m1, addr1 := startMaster(t, haConfig(e, "m1", time.Minute))
	leads(t, m1)
	info := mezzo.FrameworkInfo{Name: "fw", FailoverTimeout: time.Hour}
	s1 := mastertest.Subscribe(t, addr1, info)
	info.ID = s1.ID
	const res = "cpus:4;mem:1024"
	a := mastertest.StartAgent(t, addr1, mastertest.AgentOptions{Hostname: "a", Resources: res})
	reconcile(t, s1, &api.ReconcileRequest_Task{TaskId: "ghost", AgentId: string(a.ID())})
	got, _ := updatesUntil(t, s1, "ghost")
	want(t, got, "ghost", mezzo.TaskLost, "unknown")
	waitRegistry(t, e, "the agent, the framework and ghost's loss",
		map[string]int64{"/mezzo/agents/": 1, "/mezzo/frameworks/": 1, "/mezzo/lost/": 1})
	aID, aSecret := a.ID(), a.Secret()
	_, addr2 := failOver(t, e, m1, a, s1)
	s2 := mastertest.Subscribe(t, addr2, info)
	back := mastertest.StartAgent(t, addr2, mastertest.AgentOptions{ID: aID, Secret: aSecret, Hostname: "a", Resources: res,
		Running: []*api.RunningTask{runningTask(info.ID, "ghost")}})
	back.WaitFor("the kill of ghost", 10*time.Second, func(seen mastertest.AgentSeen) bool {
		return len(seen.Kills) == 1 && seen.Kills[0] == "ghost"
	})
	back.Send(info.ID, mezzo.TaskStatus{TaskID: "ghost", State: mezzo.TaskKilled, UUID: "ghost-killed"})
	got, _ = updatesUntil(t, s2, "ghost")
	if st := got["ghost"]; st.State != mezzo.TaskLost {
		t.Fatalf("after the failover the agent's TASK_KILLED of ghost reached the framework as %s (%q); want the first leader's TASK_LOST again", st.State, st.Message)
	}
	// The record goes with its framework.
	if _, err := s2.Client.Teardown(t.Context(), &api.TeardownRequest{Header: s2.Header()}); err != nil {
		t.Fatal(err)
	}
	waitRegistry(t, e, "neither the framework nor its lost tasks", map[string]int64{"/mezzo/frameworks/": 0, "/mezzo/lost/": 0})
}

// TestDrainSurvivesFailover: a drain lives in the registry. The next
// leader keeps the agent out of offers and asks the agent's framework
// again to move its task (the first inverse offer may have been lost with
// the old leader); an undrain there offers the agent again and ends the
// record.
func TestDrainSurvivesFailover(t *testing.T) {
	e := startEtcd(t)
	m1, addr1 := startMaster(t, haConfig(e, "m1", time.Minute))
	leads(t, m1)
	base1 := startHTTP(t, m1)
	info := mezzo.FrameworkInfo{Name: "fw", FailoverTimeout: time.Hour}
	s1 := mastertest.Subscribe(t, addr1, info)
	info.ID = s1.ID
	const res = "cpus:4;mem:1024"
	running := []*api.RunningTask{runningTask(info.ID, "t1")}
	a := mastertest.StartAgent(t, addr1, mastertest.AgentOptions{ID: "m0-A0001", Hostname: "a", Resources: res, Running: running})
	if code, body := post(t, base1+"/api/v1/agents/"+string(a.ID())+"/drain?deadline=1h", ""); code != http.StatusAccepted {
		t.Fatalf("drain: %d %s", code, body)
	}
	waitRegistry(t, e, "the agent, the framework and the drain",
		map[string]int64{"/mezzo/agents/": 1, "/mezzo/frameworks/": 1, "/mezzo/drains/": 1})
	aID, aSecret := a.ID(), a.Secret()
	m2, addr2 := failOver(t, e, m1, a, s1)
	base2 := startHTTP(t, m2)
	s2 := mastertest.Subscribe(t, addr2, info)
	mastertest.StartAgent(t, addr2, mastertest.AgentOptions{ID: aID, Secret: aSecret, Hostname: "a", Resources: res, Running: running})
	inv := s2.Next("the inverse offer again", 10*time.Second, func(ev *api.SchedulerEvent) bool { return ev.GetInverseOffer() != nil }).GetInverseOffer()
	if inv.AgentId != string(aID) || strings.Join(inv.TaskIds, ",") != "t1" || inv.DeadlineUnixNanos == 0 {
		t.Errorf("inverse offer after the failover %v; want agent %s, task t1, the drain's deadline", inv, aID)
	}
	time.Sleep(400 * time.Millisecond) // allocation cycles
	if offers := s2.PendingOffers(); len(offers) > 0 {
		t.Fatalf("the drained agent was offered by the new leader: %v", offers)
	}
	if code, body := post(t, base2+"/api/v1/agents/"+string(aID)+"/undrain", ""); code != http.StatusAccepted {
		t.Fatalf("undrain on the new leader: %d %s", code, body)
	}
	offerOn(t, s2, aID)
	waitRegistry(t, e, "no drain", map[string]int64{"/mezzo/drains/": 0})
}
