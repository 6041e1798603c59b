package master_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
)

const wait = 5 * time.Second

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startMaster runs a master on a free loopback port with short intervals.
func startMaster(t *testing.T, cfg master.Config) (*master.Master, string) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 50 * time.Millisecond
		cfg.PingTimeout = 400 * time.Millisecond
	}
	if cfg.AllocationInterval == 0 {
		cfg.AllocationInterval = 100 * time.Millisecond
	}
	cfg.Logger = quietLogger()
	m, err := master.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m, addr
}

func snapshot(t *testing.T, m *master.Master) master.Snapshot {
	t.Helper()
	s, err := m.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Check != "" {
		t.Fatalf("allocator invariants broken: %s", s.Check)
	}
	return s
}

// waitSettled waits until no task holds resources: everything on the
// agents is free or offered, nothing lost.
func waitSettled(t *testing.T, m *master.Master, total string) master.Snapshot {
	t.Helper()
	want := mezzo.MustParseResources(total)
	deadline := time.Now().Add(wait)
	for {
		s := snapshot(t, m)
		sum := s.Totals.Free.Add(s.Totals.Offered)
		if s.Totals.Used.IsEmpty() && s.Totals.Total.Equal(want) && sum.Equal(want) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("resources not back: total %s, free %s, offered %s, used %s; want all of %s free or offered",
				s.Totals.Total, s.Totals.Free, s.Totals.Offered, s.Totals.Used, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUnknownPolicyListsKnownOnes(t *testing.T) {
	_, err := master.New(master.Config{Policy: "fastest"})
	if err == nil || !strings.Contains(err.Error(), "fastest") || !strings.Contains(err.Error(), "drf") {
		t.Fatalf("New with an unknown policy: err = %v; want one naming it and listing drf", err)
	}
}

func task(id string, res string) mezzo.TaskInfo {
	return mezzo.TaskInfo{ID: mezzo.TaskID(id), Resources: mezzo.MustParseResources(res), Command: &mezzo.CommandInfo{Value: "true", Shell: true}}
}

func ids(offers []mezzo.Offer) []mezzo.OfferID {
	out := make([]mezzo.OfferID, len(offers))
	for i, o := range offers {
		out[i] = o.ID
	}
	return out
}

func expectRefused(t *testing.T, s *mastertest.Scheduler, id string, state mezzo.TaskState, reason mezzo.Reason, words string) {
	t.Helper()
	st := s.NextUpdate(mezzo.TaskID(id), wait)
	if st.State != state || st.Reason != reason || !strings.Contains(st.Message, words) {
		t.Fatalf("task %s: got %s %s %q; want %s %s with a message containing %q", id, st.State, st.Reason, st.Message, state, reason, words)
	}
	if st.UUID != "" {
		t.Errorf("task %s: master-generated update carries uuid %q; it needs no acknowledgement", id, st.UUID)
	}
}

func TestAcceptValidationLosesNothing(t *testing.T) {
	const total = "cpus:4;mem:1024"
	m, addr := startMaster(t, master.Config{})
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: total})
	a := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "a"})
	offers := a.NextOffers(wait)
	if len(offers) != 1 || !offers[0].Resources.Equal(mezzo.MustParseResources(total)) || offers[0].AgentID != agent.ID() {
		t.Fatalf("first offers = %+v; want the whole agent", offers)
	}
	b := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "b"})
	noFilter := mezzo.Filters{Refuse: -1}

	// An offer that does not exist.
	if err := a.Accept([]mezzo.OfferID{"no-such-offer"}, []mezzo.TaskInfo{task("t-unknown", "cpus:1")}, noFilter); err != nil {
		t.Fatal(err)
	}
	expectRefused(t, a, "t-unknown", mezzo.TaskDropped, mezzo.ReasonInvalidOffers, "not outstanding")

	// Someone else's offer: refused, and a's offer is untouched.
	if err := b.Accept(ids(offers), []mezzo.TaskInfo{task("t-theft", "cpus:1")}, noFilter); err != nil {
		t.Fatal(err)
	}
	expectRefused(t, b, "t-theft", mezzo.TaskDropped, mezzo.ReasonInvalidOffers, "another framework")
	if s := snapshot(t, m); s.Totals.Offers != 1 {
		t.Fatalf("after b named a's offer: %d offers outstanding, want a's one", s.Totals.Offers)
	}
	b.Close() // from here on, a alone is offered what is free

	// Over-asking: the task fails, the offer's resources come back.
	if err := a.Accept(ids(offers), []mezzo.TaskInfo{task("t-big", "cpus:8;mem:64")}, noFilter); err != nil {
		t.Fatal(err)
	}
	expectRefused(t, a, "t-big", mezzo.TaskError, mezzo.ReasonTaskInvalid, "needs cpus:8;mem:64")
	waitSettled(t, m, total)

	// Duplicate task IDs: within one accept, and against a live task.
	got := a.NextOffers(wait)
	if err := a.Accept(ids(got), []mezzo.TaskInfo{task("dup", "cpus:1;mem:64"), task("dup", "cpus:1;mem:64"), task("", "cpus:1")}, noFilter); err != nil {
		t.Fatal(err)
	}
	expectRefused(t, a, "dup", mezzo.TaskError, mezzo.ReasonTaskInvalid, "appears twice")
	expectRefused(t, a, "", mezzo.TaskError, mezzo.ReasonTaskInvalid, "no ID")
	seen := agent.WaitFor("the launch of dup", wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == 1 })
	if seen.Launched[0].Task.ID != "dup" || seen.Launched[0].Framework != a.ID {
		t.Fatalf("agent launched %+v; want task dup of %s", seen.Launched, a.ID)
	}
	got = a.NextOffers(wait) // what dup left over comes back
	if err := a.Accept(ids(got), []mezzo.TaskInfo{task("dup", "cpus:1")}, noFilter); err != nil {
		t.Fatal(err)
	}
	expectRefused(t, a, "dup", mezzo.TaskError, mezzo.ReasonTaskInvalid, "already in use")

	// The live task ends: everything is free or offered again.
	agent.Report(a.ID, "dup", mezzo.TaskRunning, "")
	agent.Report(a.ID, "dup", mezzo.TaskFinished, "")
	if st := a.NextUpdate("dup", wait); st.State != mezzo.TaskRunning {
		t.Fatalf("dup: %s, want TASK_RUNNING", st.State)
	}
	if st := a.NextUpdate("dup", wait); st.State != mezzo.TaskFinished {
		t.Fatalf("dup: %s, want TASK_FINISHED", st.State)
	}
	s := waitSettled(t, m, total)
	for _, f := range s.Frameworks {
		if f.ID == a.ID && (f.Stats.TasksLaunched != 1 || f.Stats.TaskErrors != 5 || f.Stats.TasksByState["TASK_FINISHED"] != 1) {
			t.Errorf("stats of a = %+v; want 1 launched, 5 refused, 1 finished", f.Stats)
		}
	}

	// The agent goes away: accepting its (rescinded) offer is refused.
	var last []mezzo.Offer
	a.Next("offers after dup ended", wait, func(ev *api.SchedulerEvent) bool {
		if o := ev.GetOffers(); o != nil {
			for _, p := range o.Offers {
				of, _ := api.OfferFromProto(p)
				last = append(last, of)
			}
			return true
		}
		return false
	})
	agent.Kill()
	a.Next("the rescind", wait, func(ev *api.SchedulerEvent) bool { return ev.GetRescind() != nil })
	if err := a.Accept(ids(last), []mezzo.TaskInfo{task("t-late", "cpus:1")}, noFilter); err != nil {
		t.Fatal(err)
	}
	expectRefused(t, a, "t-late", mezzo.TaskDropped, mezzo.ReasonInvalidOffers, "not outstanding")
	snapshot(t, m)
}
