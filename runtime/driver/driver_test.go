package driver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
)

const wait = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startMaster(t *testing.T, listen string) (*master.Master, string) {
	t.Helper()
	m, err := master.New(master.Config{Listen: listen, PingInterval: 50 * time.Millisecond, PingTimeout: 2 * time.Second,
		AllocationInterval: 100 * time.Millisecond, Logger: quiet})
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

// batch launches n tasks, then stops once all have finished. It checks
// that no two callbacks overlap.
type batch struct {
	n, launched, finished int
	inCallback            atomic.Int32
	overlaps              atomic.Int32
	registered            []mezzo.FrameworkID
	timerRan              bool
	stopOnFinish          bool
	done                  chan struct{}
}

func (b *batch) enter() func() {
	if b.inCallback.Add(1) != 1 {
		b.overlaps.Add(1)
	}
	time.Sleep(time.Millisecond) // widen the window an overlap would need
	return func() { b.inCallback.Add(-1) }
}

func (b *batch) Registered(d mezzo.Driver, id mezzo.FrameworkID) {
	defer b.enter()()
	b.registered = append(b.registered, id)
	d.AfterFunc(10*time.Millisecond, func() { defer b.enter()(); b.timerRan = true })
}

func (b *batch) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	defer b.enter()()
	for _, o := range offers {
		var tasks []mezzo.TaskInfo
		left := o.Resources
		need := mezzo.MustParseResources("cpus:0.5;mem:32")
		for b.launched < b.n && len(tasks) < 2 && left.Contains(need) {
			tasks = append(tasks, mezzo.TaskInfo{ID: mezzo.TaskID(fmt.Sprintf("t%d", b.launched)), Resources: need})
			left = left.Sub(need)
			b.launched++
		}
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{Refuse: -1})
	}
}

func (b *batch) OfferRescinded(mezzo.Driver, mezzo.OfferID) { defer b.enter()() }

func (b *batch) StatusUpdate(d mezzo.Driver, s mezzo.TaskStatus) {
	defer b.enter()()
	if s.State == mezzo.TaskFinished {
		b.finished++
		if b.finished == b.n {
			close(b.done)
			if b.stopOnFinish {
				_ = d.Stop(false)
			}
		}
	}
}

func (b *batch) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (b *batch) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (b *batch) Error(mezzo.Driver, string)                                             {}

func TestDriverRunsASchedulerAndAcknowledges(t *testing.T) {
	m, addr := startMaster(t, "127.0.0.1:0")
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Resources: "cpus:2;mem:256", AutoRun: true})
	b := &batch{n: 10, stopOnFinish: true, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := driver.Run(ctx, addr, mezzo.FrameworkInfo{Name: "batch"}, b); err != nil {
		t.Fatalf("Run: %v (launched %d, finished %d, agent saw %+v)", err, b.launched, b.finished, agent.Seen())
	}
	if b.finished != b.n || b.overlaps.Load() != 0 || !b.timerRan || len(b.registered) != 1 {
		t.Fatalf("finished %d/%d, overlapping callbacks %d, timer ran %v, registered %v", b.finished, b.n, b.overlaps.Load(), b.timerRan, b.registered)
	}
	// Every update carried a uuid; the driver acknowledged each one, the
	// last too, though its callback stopped the driver.
	agent.WaitFor("acknowledgements", wait, func(s mastertest.AgentSeen) bool { return len(s.Acks) == 2*b.n })
	// Stop(false) tore the framework down.
	s, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Totals.Frameworks != 0 || !s.Totals.Used.IsEmpty() || s.Check != "" {
		t.Fatalf("after Stop(false): %d frameworks, %s used, check %q", s.Totals.Frameworks, s.Totals.Used, s.Check)
	}
}

func TestDriverReconnectsWithItsFrameworkID(t *testing.T) {
	m1, addr := startMaster(t, "127.0.0.1:0")
	b := &batch{n: 2, done: make(chan struct{})}
	d, err := driver.New(driver.Config{Master: addr, Framework: mezzo.FrameworkInfo{Name: "phoenix"}, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: quiet}, b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first registration", func() bool { return d.FrameworkID() != "" })
	id := d.FrameworkID()

	// The master dies and another takes its address: the driver comes back
	// under the same framework ID and runs its tasks there.
	m1.Stop()
	_, _ = startMaster(t, addr)
	mastertest.StartAgent(t, addr, mastertest.AgentOptions{Resources: "cpus:2;mem:256", AutoRun: true})
	select {
	case <-b.done:
	case <-ctx.Done():
		t.Fatalf("tasks did not finish after reconnecting: launched %d finished %d", b.launched, b.finished)
	}
	if err := d.Stop(false); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(); !errors.Is(err, driver.ErrStopped) {
		t.Fatalf("Wait = %v, want ErrStopped", err)
	}
	if len(b.registered) != 2 || b.registered[0] != id || b.registered[1] != id {
		t.Fatalf("registrations %v; want %s twice", b.registered, id)
	}
}

func TestTimerStop(t *testing.T) {
	_, addr := startMaster(t, "127.0.0.1:0")
	d, err := driver.New(driver.Config{Master: addr, Logger: quiet}, &batch{done: make(chan struct{})})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(false)
	var mu sync.Mutex
	ran := map[string]bool{}
	stopped := d.AfterFunc(20*time.Millisecond, func() { mu.Lock(); ran["stopped"] = true; mu.Unlock() })
	fired := d.AfterFunc(time.Millisecond, func() { mu.Lock(); ran["fired"] = true; mu.Unlock() })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	waitFor(t, "the timer", func() bool { mu.Lock(); defer mu.Unlock(); return ran["fired"] })
	if fired.Stop() {
		t.Fatal("Stop of a timer that ran reported true")
	}
	time.Sleep(40 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if ran["stopped"] {
		t.Fatal("a stopped timer ran")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// statusLog records status updates.
type statusLog struct {
	batch
	mu  sync.Mutex
	got []mezzo.TaskStatus
}

func (s *statusLog) StatusUpdate(_ mezzo.Driver, st mezzo.TaskStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, st)
}

func TestLaunchWhileDisconnectedComesBackLost(t *testing.T) {
	m, addr := startMaster(t, "127.0.0.1:0")
	s := &statusLog{batch: batch{done: make(chan struct{})}}
	d, err := driver.New(driver.Config{Master: addr, MinBackoff: time.Second, MaxBackoff: time.Second, Logger: quiet}, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(false)
	waitFor(t, "registration", func() bool { return d.FrameworkID() != "" })
	m.Stop()
	tasks := []mezzo.TaskInfo{{ID: "t1", AgentID: "a1"}, {ID: "t2", AgentID: "a1"}}
	// The driver notices the broken stream on its own; until it does, the
	// launch may still leave, and fail on the way.
	waitFor(t, "the launch to be refused for want of a master", func() bool {
		if err := d.LaunchTasks([]mezzo.OfferID{"o1"}, tasks, mezzo.Filters{}); err != nil {
			t.Fatalf("LaunchTasks while disconnected = %v, want nil (the tasks are reported lost)", err)
		}
		time.Sleep(50 * time.Millisecond)
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.got) >= 2
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, st := range s.got[:2] {
		if st.TaskID != tasks[i].ID || st.State != mezzo.TaskLost || st.Reason != mezzo.ReasonMasterDisconnected || st.AgentID != "a1" {
			t.Errorf("update %d: %+v, want %s TASK_LOST %s on a1", i, st, tasks[i].ID, mezzo.ReasonMasterDisconnected)
		}
	}
}

// oneTask launches t1 on the first offer (naming no agent: the offer does)
// and records status updates.
type oneTask struct {
	statusLog
	sent bool
}

func (o *oneTask) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	for _, of := range offers {
		if o.sent {
			_ = d.DeclineOffer(of.ID, mezzo.Filters{})
			continue
		}
		o.sent = true
		_ = d.LaunchTasks([]mezzo.OfferID{of.ID}, []mezzo.TaskInfo{{ID: "t1", Resources: mezzo.MustParseResources("cpus:1;mem:64")}}, mezzo.Filters{})
	}
}

// With Config.Reconcile a driver that re-subscribes asks about the tasks it
// launched and never heard end, naming their agents: a master that does
// not know one (here the launch died with the master before it) answers
// TASK_LOST, and that reaches the scheduler.
func TestReconcileAfterResubscribing(t *testing.T) {
	m1, addr := startMaster(t, "127.0.0.1:0")
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Resources: "cpus:2;mem:256"})
	s := &oneTask{statusLog: statusLog{batch: batch{done: make(chan struct{})}}}
	d, err := driver.New(driver.Config{Master: addr, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: quiet, Reconcile: true}, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(false)
	agent.WaitFor("the launch of t1", wait, func(seen mastertest.AgentSeen) bool { return len(seen.Launched) == 1 })
	m1.Stop()
	_, _ = startMaster(t, addr)
	waitFor(t, "t1's reconciliation", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.got) > 0
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.got[0]; st.TaskID != "t1" || st.State != mezzo.TaskLost || st.Reason != mezzo.ReasonReconciliation || st.AgentID != agent.ID() {
		t.Errorf("after re-subscribing: %+v; want t1 TASK_LOST %s on %s", st, mezzo.ReasonReconciliation, agent.ID())
	}
}
