package sim

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
)

// script is a Scheduler whose behaviour each test sets through funcs and
// which records everything it is told, with the virtual time.
type script struct {
	d        mezzo.Driver
	id       mezzo.FrameworkID
	onOffers func(s *script, offers []mezzo.Offer)
	onStatus func(s *script, st mezzo.TaskStatus)

	offers   []stamped[mezzo.Offer]
	statuses []stamped[mezzo.TaskStatus]
	rescinds []mezzo.OfferID
	lost     []stamped[mezzo.AgentID]
	messages [][]byte
}

type stamped[T any] struct {
	at time.Duration
	v  T
}

func (s *script) now() time.Duration { return s.d.Now().Sub(Epoch) }

func (s *script) Registered(d mezzo.Driver, id mezzo.FrameworkID) { s.d, s.id = d, id }
func (s *script) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	for _, o := range offers {
		s.offers = append(s.offers, stamped[mezzo.Offer]{s.now(), o})
	}
	if s.onOffers != nil {
		s.onOffers(s, offers)
		return
	}
	for _, o := range offers {
		_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Hour})
	}
}
func (s *script) OfferRescinded(d mezzo.Driver, id mezzo.OfferID) {
	s.rescinds = append(s.rescinds, id)
}
func (s *script) StatusUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	s.statuses = append(s.statuses, stamped[mezzo.TaskStatus]{s.now(), st})
	if s.onStatus != nil {
		s.onStatus(s, st)
	}
}
func (s *script) FrameworkMessage(d mezzo.Driver, e mezzo.ExecutorID, a mezzo.AgentID, data []byte) {
	s.messages = append(s.messages, data)
}
func (s *script) AgentLost(d mezzo.Driver, id mezzo.AgentID) {
	s.lost = append(s.lost, stamped[mezzo.AgentID]{s.now(), id})
}
func (s *script) Error(d mezzo.Driver, msg string) {}

func (s *script) status(id mezzo.TaskID) []mezzo.TaskState {
	var out []mezzo.TaskState
	for _, st := range s.statuses {
		if st.v.TaskID == id {
			out = append(out, st.v.State)
		}
	}
	return out
}

func (s *script) offersFor(agent mezzo.AgentID) []time.Duration {
	var out []time.Duration
	for _, o := range s.offers {
		if o.v.AgentID == agent {
			out = append(out, o.at)
		}
	}
	return out
}

type testWorld struct {
	*World
	eng *Engine
}

func newTestWorld(t *testing.T, agents int, cfg WorldConfig) testWorld {
	t.Helper()
	c, err := NewCluster(ClusterConfig{Agents: agents, AgentsPerRack: 2})
	if err != nil {
		t.Fatal(err)
	}
	dfs, err := NewDFS(c, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := alloc.DefaultRegistry().New("drf", alloc.PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := alloc.New(alloc.Config{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	eng := NewEngine()
	cfg.Check = true
	w, err := NewWorld(eng, a, c, dfs, cfg, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	return testWorld{w, eng}
}

func (tw testWorld) run(t *testing.T, until time.Duration) {
	t.Helper()
	tw.eng.RunUntil(Epoch.Add(until))
	if err := tw.Err(); err != nil {
		t.Fatal(err)
	}
}

func (tw testWorld) add(t *testing.T, name string, s mezzo.Scheduler) mezzo.FrameworkID {
	t.Helper()
	id, err := tw.AddFramework(mezzo.FrameworkInfo{ID: mezzo.FrameworkID(name), Name: name}, s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var slot = mezzo.MustParseResources("cpus:1;mem:1024")

func task(id string, agent mezzo.AgentID, dur time.Duration) mezzo.TaskInfo {
	return mezzo.TaskInfo{ID: mezzo.TaskID(id), AgentID: agent, Resources: slot, Duration: dur}
}

func TestDriverTaskLifecycleAndLatency(t *testing.T) {
	tw := newTestWorld(t, 1, WorldConfig{Latency: 10 * time.Millisecond})
	launched := false
	var launchAt time.Duration
	s := &script{onOffers: func(s *script, offers []mezzo.Offer) {
		for _, o := range offers {
			if launched {
				_ = s.d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Hour})
				continue
			}
			launched, launchAt = true, s.now()
			_ = s.d.LaunchTasks([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{task("t1", "", 30*time.Second)}, mezzo.Filters{})
		}
	}}
	tw.add(t, "fw", s)
	tw.run(t, time.Minute)
	// Registration triggers a cycle at once; Registered and the first
	// offers travel together and arrive one latency later, in that order.
	if len(s.offers) == 0 || s.offers[0].at != 10*time.Millisecond {
		t.Fatalf("first offer at %v, want one latency (10ms)", s.offers)
	}
	if got := s.status("t1"); len(got) != 2 || got[0] != mezzo.TaskRunning || got[1] != mezzo.TaskFinished {
		t.Fatalf("t1 states %v, want RUNNING then FINISHED", got)
	}
	// launch reaches the master after L, the agent after 2L; RUNNING is
	// back 2L later; FINISHED 30 s after the start plus 2L.
	if run := s.statuses[0].at; run != launchAt+40*time.Millisecond {
		t.Errorf("RUNNING at %v, want %v", run, launchAt+40*time.Millisecond)
	}
	if fin := s.statuses[1].at; fin != launchAt+30*time.Second+40*time.Millisecond {
		t.Errorf("FINISHED at %v, want %v", fin, launchAt+30*time.Second+40*time.Millisecond)
	}
	if u := tw.Allocator().Totals().Used; !u.IsEmpty() {
		t.Errorf("resources still used after the task ended: %v", u)
	}
	if st := tw.Stats(); st.Launched != 1 || st.Ended != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDriverDeclineFilter(t *testing.T) {
	for _, tc := range []struct {
		refuse time.Duration
		minGap time.Duration
		maxGap time.Duration
	}{
		{refuse: 5 * time.Second, minGap: 5 * time.Second, maxGap: 6*time.Second + 10*time.Millisecond},
		{refuse: -1, minGap: 0, maxGap: time.Second + 10*time.Millisecond},
	} {
		tw := newTestWorld(t, 1, WorldConfig{})
		refuse := tc.refuse
		s := &script{onOffers: func(s *script, offers []mezzo.Offer) {
			for _, o := range offers {
				_ = s.d.DeclineOffer(o.ID, mezzo.Filters{Refuse: refuse})
			}
		}}
		tw.add(t, "fw", s)
		tw.run(t, 30*time.Second)
		at := s.offersFor("agent-0001")
		if len(at) < 3 {
			t.Fatalf("refuse %v: only %d offers in 30 s", refuse, len(at))
		}
		for i := 1; i < len(at); i++ {
			if gap := at[i] - at[i-1]; gap < tc.minGap || gap > tc.maxGap {
				t.Fatalf("refuse %v: offers at %v: gap %v outside [%v, %v]", refuse, at, gap, tc.minGap, tc.maxGap)
			}
		}
	}
}

func TestDriverSuppressRevive(t *testing.T) {
	tw := newTestWorld(t, 2, WorldConfig{})
	s := &script{onOffers: func(s *script, offers []mezzo.Offer) {
		for _, o := range offers {
			_ = s.d.DeclineOffer(o.ID, mezzo.Filters{Refuse: -1})
		}
	}}
	tw.add(t, "fw", s)
	tw.run(t, 1500*time.Millisecond)
	if len(s.offers) == 0 {
		t.Fatal("no offers before suppress")
	}
	_ = s.d.SuppressOffers()
	tw.run(t, 1600*time.Millisecond)
	n := len(s.offers)
	tw.run(t, 20*time.Second)
	if len(s.offers) != n {
		t.Fatalf("%d offers while suppressed", len(s.offers)-n)
	}
	// Revive at 20.5 s: offers come with the incremental cycle, not at the
	// next periodic one at 21 s.
	tw.run(t, 20500*time.Millisecond)
	_ = s.d.ReviveOffers()
	tw.run(t, 20900*time.Millisecond)
	if len(s.offers) == n {
		t.Fatal("no offers after revive")
	}
	if at := s.offers[n].at; at >= 21*time.Second {
		t.Fatalf("first offer after revive at %v, want before the next batch", at)
	}
}

func TestDriverInvalidLaunches(t *testing.T) {
	tw := newTestWorld(t, 1, WorldConfig{})
	other := &script{}
	tw.add(t, "other", other)
	var foreign mezzo.OfferID = "no-such-offer"
	done := false
	s := &script{onOffers: func(s *script, offers []mezzo.Offer) {
		if done {
			for _, o := range offers {
				_ = s.d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Hour})
			}
			return
		}
		done = true
		o := offers[0]
		big := mezzo.TaskInfo{ID: "big", Resources: mezzo.MustParseResources("cpus:64;mem:1024"), Duration: time.Second}
		ok := task("ok", "", 5*time.Second)
		dup := task("ok", "", 5*time.Second)
		wrongAgent := task("wrong", "agent-9999", time.Second)
		_ = s.d.LaunchTasks([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{big, ok, dup, wrongAgent}, mezzo.Filters{Refuse: -1})
		_ = s.d.LaunchTasks([]mezzo.OfferID{foreign}, []mezzo.TaskInfo{task("ghost", "", time.Second)}, mezzo.Filters{})
	}}
	tw.add(t, "fw", s)
	tw.run(t, 30*time.Second)
	for id, want := range map[mezzo.TaskID]string{"big": "needs", "wrong": "names agent", "ghost": "unknown"} {
		got := s.status(id)
		if len(got) != 1 || got[0] != mezzo.TaskError {
			t.Errorf("%s: states %v, want one TASK_ERROR", id, got)
			continue
		}
		for _, st := range s.statuses {
			if st.v.TaskID == id && !strings.Contains(st.v.Message, want) {
				t.Errorf("%s: message %q does not say %q", id, st.v.Message, want)
			}
		}
	}
	if got := s.status("ok"); len(got) != 3 || got[0] != mezzo.TaskError || got[2] != mezzo.TaskFinished {
		// the duplicate answers TASK_ERROR at once; the original runs.
		t.Errorf("ok: states %v, want TASK_ERROR (duplicate), RUNNING, FINISHED", got)
	}
	st := tw.Stats()
	if st.Rejected != 4 || st.Launched != 1 || st.Ended != 1 {
		t.Errorf("stats %+v, want 4 rejected, 1 launched and ended", st)
	}
	if u := tw.Allocator().Totals().Used; !u.IsEmpty() {
		t.Errorf("resources not recovered: %v in use", u)
	}
}

func TestDriverAgentFailureAndReturn(t *testing.T) {
	tw := newTestWorld(t, 2, WorldConfig{Failures: []Failure{{Agent: "agent-0001", At: 10 * time.Second, Back: 40 * time.Second}}})
	n := 0
	s := &script{onOffers: func(s *script, offers []mezzo.Offer) {
		for _, o := range offers {
			if o.AgentID == "agent-0001" && n == 0 {
				n++
				_ = s.d.LaunchTasks([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{task("victim", "", time.Minute)}, mezzo.Filters{Refuse: time.Hour})
				continue
			}
			_ = s.d.DeclineOffer(o.ID, mezzo.Filters{Refuse: -1})
		}
	}}
	tw.add(t, "fw", s)
	bystander := &script{}
	tw.add(t, "bystander", bystander)
	tw.run(t, 35*time.Second)
	if got := s.status("victim"); len(got) != 2 || got[1] != mezzo.TaskLost {
		t.Fatalf("victim states %v, want RUNNING then LOST", got)
	}
	if r := s.statuses[len(s.statuses)-1].v.Reason; r != mezzo.ReasonAgentLost {
		t.Errorf("reason %q", r)
	}
	for _, fw := range []*script{s, bystander} {
		if len(fw.lost) != 1 || fw.lost[0].v != "agent-0001" {
			t.Errorf("AgentLost calls %v, want agent-0001 once", fw.lost)
		}
	}
	for _, at := range s.offersFor("agent-0001") {
		if at > 10*time.Second && at < 40*time.Second {
			t.Fatalf("agent-0001 offered at %v while down", at)
		}
	}
	if tw.Allocator().HasAgent("agent-0001") {
		t.Fatal("down agent still in the allocator")
	}
	tw.run(t, 45*time.Second)
	back := false
	for _, at := range s.offersFor("agent-0001") {
		back = back || at >= 40*time.Second
	}
	if !back {
		t.Fatal("agent-0001 not offered after its return")
	}
	if st := tw.Stats(); st.Launched != st.Ended {
		t.Errorf("launched %d, ended %d", st.Launched, st.Ended)
	}
}

func TestDriverKillReconcileAndTimers(t *testing.T) {
	tw := newTestWorld(t, 1, WorldConfig{})
	var fired time.Duration
	started := false
	s := &script{onOffers: func(s *script, offers []mezzo.Offer) {
		for _, o := range offers {
			if started {
				_ = s.d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Hour})
				continue
			}
			started = true
			_ = s.d.LaunchTasks([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{task("long", "", time.Hour), task("short", "", time.Second)}, mezzo.Filters{Refuse: time.Hour})
			s.d.AfterFunc(5*time.Second, func() {
				fired = s.now()
				_ = s.d.ReconcileTasks(nil)
				_ = s.d.KillTask("long")
			})
			cancelled := s.d.AfterFunc(6*time.Second, func() { t.Error("stopped timer fired") })
			if !cancelled.Stop() {
				t.Error("Stop of a pending timer reported false")
			}
		}
	}}
	tw.add(t, "fw", s)
	tw.run(t, time.Minute)
	if fired < 5*time.Second || fired > 6*time.Second {
		t.Errorf("timer fired at %v", fired)
	}
	got := s.status("long")
	if len(got) != 3 || got[0] != mezzo.TaskRunning || got[1] != mezzo.TaskRunning || got[2] != mezzo.TaskKilled {
		t.Fatalf("long: %v, want RUNNING, RUNNING (reconciliation), KILLED", got)
	}
	if got := s.status("short"); len(got) != 2 || got[1] != mezzo.TaskFinished {
		t.Fatalf("short: %v (reconciliation lists only live tasks)", got)
	}
	if st := tw.Stats(); st.Ended != 2 {
		t.Errorf("stats %+v", st)
	}
}

// echo is a custom executor: each task reports RUNNING, then FINISHED with
// its Data reversed, either synchronously or from a goroutine.
type echo struct {
	async bool
}

func (e *echo) Registered(mezzo.ExecutorDriver, mezzo.ExecutorInfo, mezzo.FrameworkID, mezzo.AgentID) {
}
func (e *echo) LaunchTask(d mezzo.ExecutorDriver, t mezzo.TaskInfo) {
	work := func() {
		_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: t.ID, State: mezzo.TaskRunning})
		out := []byte(string(t.Data) + "!")
		_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: t.ID, State: mezzo.TaskFinished, Data: out})
	}
	if e.async {
		go work()
		return
	}
	work()
}
func (e *echo) KillTask(d mezzo.ExecutorDriver, id mezzo.TaskID) {}
func (e *echo) FrameworkMessage(d mezzo.ExecutorDriver, data []byte) {
	_ = d.SendFrameworkMessage(append([]byte("re:"), data...))
	_ = d.Stop()
}
func (e *echo) Shutdown(d mezzo.ExecutorDriver) {}

func TestDriverCustomExecutors(t *testing.T) {
	reg := ExecutorRegistry{
		"echo":       func() mezzo.Executor { return &echo{} },
		"echo-async": func() mezzo.Executor { return &echo{async: true} },
	}
	tw := newTestWorld(t, 1, WorldConfig{Executors: reg})
	res := mezzo.MustParseResources("cpus:0.5;mem:128")
	exec := func(kind string) *mezzo.ExecutorInfo {
		return &mezzo.ExecutorInfo{ID: mezzo.ExecutorID(kind), Kind: kind, Resources: mezzo.MustParseResources("cpus:0.1;mem:32")}
	}
	started := false
	s := &script{onOffers: func(s *script, offers []mezzo.Offer) {
		for _, o := range offers {
			if started {
				_ = s.d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Hour})
				continue
			}
			started = true
			ts := []mezzo.TaskInfo{
				{ID: "a", Resources: res, Executor: exec("echo"), Data: []byte("a"), Duration: 10 * time.Second},
				{ID: "b", Resources: res, Executor: exec("echo"), Data: []byte("b")},
				{ID: "c", Resources: res, Executor: exec("echo-async"), Data: []byte("c")},
				{ID: "d", Resources: res, Executor: exec("nope")},
			}
			_ = s.d.LaunchTasks([]mezzo.OfferID{o.ID}, ts, mezzo.Filters{Refuse: time.Hour})
			s.d.AfterFunc(20*time.Second, func() { _ = s.d.SendFrameworkMessage("echo", o.AgentID, []byte("hi")) })
		}
	}}
	tw.add(t, "fw", s)
	tw.run(t, time.Minute)
	data := map[mezzo.TaskID]string{}
	var aDone time.Duration
	for _, st := range s.statuses {
		if st.v.State == mezzo.TaskFinished {
			data[st.v.TaskID] = string(st.v.Data)
			if st.v.TaskID == "a" {
				aDone = st.at
			}
		}
	}
	for _, id := range []mezzo.TaskID{"a", "b", "c"} {
		if data[id] != string(id)+"!" {
			t.Errorf("task %s finished with %q", id, data[id])
		}
	}
	if aDone < 10*time.Second {
		t.Errorf("task a (10 s modelled) finished at %v", aDone)
	}
	if got := s.status("d"); len(got) != 1 || got[0] != mezzo.TaskFailed {
		t.Errorf("task of unknown kind: %v, want TASK_FAILED", got)
	}
	if len(s.messages) != 1 || string(s.messages[0]) != "re:hi" {
		t.Errorf("framework messages %q", s.messages)
	}
	st := tw.Stats()
	if st.AsyncExecutorUpdates != 0 || st.Ended != 4 {
		t.Errorf("stats %+v", st)
	}
	// echo stopped after the message: its resources are back. echo-async
	// never stops, so its 0.1 cpus stay in use.
	if u := tw.Allocator().Totals().Used; !u.Equal(mezzo.MustParseResources("cpus:0.1;mem:32")) {
		t.Errorf("in use at the end: %v, want echo-async's executor only", u)
	}
}
