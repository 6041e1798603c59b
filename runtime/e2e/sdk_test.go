package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
)

// greedy launches one long command task per offer, for as long as it is
// offered anything that fits, and gives the rest of the offer back with no
// filter, so the allocator decides at once who gets it next. Its state is
// read by the test under mu.
type greedy struct {
	name string
	need mezzo.Resources
	cmd  string

	mu       sync.Mutex
	seq      int
	running  map[mezzo.TaskID]mezzo.AgentID
	lost     map[mezzo.TaskID]mezzo.Reason
	agents   map[mezzo.AgentID]bool // agents it was offered
	lostAgts []mezzo.AgentID
	max      int // stop launching at this many live tasks (0: no cap)
}

func newGreedy(name, cmd string, max int) *greedy {
	return &greedy{name: name, cmd: cmd, max: max, need: mezzo.MustParseResources("cpus:0.5;mem:32"),
		running: map[mezzo.TaskID]mezzo.AgentID{}, lost: map[mezzo.TaskID]mezzo.Reason{}, agents: map[mezzo.AgentID]bool{}}
}

func (g *greedy) Registered(mezzo.Driver, mezzo.FrameworkID) {}

func (g *greedy) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range offers {
		g.agents[o.AgentID] = true
		if !o.Resources.Contains(g.need) || (g.max > 0 && g.seq >= g.max) {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Second})
			continue
		}
		g.seq++
		id := mezzo.TaskID(fmt.Sprintf("%s-%d", g.name, g.seq))
		g.running[id] = o.AgentID
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{{ID: id, AgentID: o.AgentID, Resources: g.need,
			Command: &mezzo.CommandInfo{Value: g.cmd, Shell: true}}}, mezzo.Filters{Refuse: -1})
	}
}

func (g *greedy) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

func (g *greedy) StatusUpdate(_ mezzo.Driver, st mezzo.TaskStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if st.State.Terminal() {
		delete(g.running, st.TaskID)
		if st.State == mezzo.TaskLost {
			g.lost[st.TaskID] = st.Reason
		}
	}
}

func (g *greedy) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}

func (g *greedy) AgentLost(_ mezzo.Driver, id mezzo.AgentID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lostAgts = append(g.lostAgts, id)
}

func (g *greedy) Error(mezzo.Driver, string) {}

func (g *greedy) live() int { g.mu.Lock(); defer g.mu.Unlock(); return len(g.running) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func runDriver(t *testing.T, addr string, s mezzo.Scheduler, name string) *driver.Driver {
	t.Helper()
	d, err := driver.New(driver.Config{Master: addr, Framework: mezzo.FrameworkInfo{Name: name}, Logger: quiet}, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { within(t, "stopping the driver", 20*time.Second, func() { _ = d.Stop(false) }) })
	return d
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTwoGreedyFrameworksShareUnderDRF(t *testing.T) {
	_, addr := startMaster(t, "--policy", "drf")
	a := newGreedy("a", "sleep 20", 0)
	b := newGreedy("b", "sleep 20", 0)
	runDriver(t, addr, a, "a")
	runDriver(t, addr, b, "b")
	// 3 agents × 2 cpus = 12 slots of 0.5 cpus.
	for i := 0; i < 3; i++ {
		startAgent(t, addr, "cpus:2;mem:1024", filepath.Join(t.TempDir(), fmt.Sprintf("agent-%d", i)))
	}
	eventually(t, "the cluster to fill up", 20*time.Second, func() bool { return a.live()+b.live() == 12 })
	if na, nb := a.live(), b.live(); na-nb > 1 || nb-na > 1 {
		t.Fatalf("DRF with equal demands: a has %d tasks, b %d; want within one of each other", na, nb)
	}
}

func TestAgentKilledWith9IsLostAndComesBack(t *testing.T) {
	_, addr := startMaster(t)
	work := t.TempDir()
	ag := startAgent(t, addr, "cpus:2;mem:512", work)
	g := newGreedy("g", "sleep 5", 1)
	runDriver(t, addr, g, "g")
	var agentID mezzo.AgentID
	eventually(t, "a task on the agent", 10*time.Second, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, id := range g.running {
			agentID = id
		}
		return agentID != ""
	})
	time.Sleep(300 * time.Millisecond) // let the task start running
	killed := time.Now()
	ag.Kill9(t)
	eventually(t, "TASK_LOST and agent lost", 5*time.Second, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.lost) == 1 && len(g.lostAgts) == 1
	})
	took := time.Since(killed)
	g.mu.Lock()
	for id, reason := range g.lost {
		if reason != mezzo.ReasonAgentLost {
			t.Errorf("task %s lost with reason %s, want %s", id, reason, mezzo.ReasonAgentLost)
		}
	}
	if g.lostAgts[0] != agentID {
		t.Errorf("agent lost %s, want %s", g.lostAgts[0], agentID)
	}
	g.agents = map[mezzo.AgentID]bool{}
	g.mu.Unlock()
	// Ping timeout 600 ms, pinged every 100 ms: the loss is noticed within
	// about 700 ms; allow for slow machines.
	if took > 3*time.Second {
		t.Errorf("TASK_LOST came %v after kill -9; ping timeout is 600ms", took)
	}
	t.Logf("TASK_LOST and agent lost %v after kill -9", took.Round(time.Millisecond))

	// The restarted agent (same work dir, so same ID) is accepted again.
	startAgent(t, addr, "cpus:2;mem:512", work)
	eventually(t, "an offer from the restarted agent", 10*time.Second, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.agents[agentID]
	})
}
