package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// haCluster starts etcd, two masters (the first is waited on to lead) and
// n agents with the given resources.
func haCluster(t *testing.T, n int, resources string) (ms []*haMaster, etcd string) {
	t.Helper()
	e := startEtcd(t)
	etcd = strings.Join(e.Endpoints(), ",")
	ms = []*haMaster{newHAMaster(t, "m1", etcd), newHAMaster(t, "m2", etcd)}
	ms[0].start(t)
	leaderOf(t, ms[:1], 20*time.Second)
	ms[1].start(t)
	for i := 0; i < n; i++ {
		startHAAgent(t, masterList(ms), etcd, resources, filepath.Join(t.TempDir(), fmt.Sprintf("agent-%d", i)))
	}
	return ms, etcd
}

// TestKillLeaderWhileLaunching kills the leading master with -9 while a
// framework launches 40 short tasks: the standby takes over, the framework
// is re-subscribed, and every task is launched once and reaches exactly
// one terminal state.
func TestKillLeaderWhileLaunching(t *testing.T) {
	ms, _ := haCluster(t, 2, "cpus:2;mem:512")
	k := newTracker("pi", "sleep 0.5", 40)
	d := startHADriver(t, masterList(ms), mezzo.FrameworkInfo{Name: "pi", FailoverTimeout: time.Minute}, k)
	eventually(t, "10 launches", 30*time.Second, func() bool { n, _ := k.done(); return n >= 10 })

	old := leaderOf(t, ms, 5*time.Second)
	old.p.Kill9(t)
	killed := time.Now()
	next := leaderOf(t, ms, 20*time.Second)
	if next == old {
		t.Fatal("the killed master still leads")
	}
	eventually(t, "the framework to be re-subscribed with the new leader", 20*time.Second, func() bool {
		s, err := next.state()
		if err != nil {
			return false
		}
		for _, f := range s.Frameworks {
			if f.ID == string(d.FrameworkID()) && f.Connected {
				return true
			}
		}
		return false
	})
	t.Logf("new leader serving the framework %v after the kill", time.Since(killed).Round(time.Millisecond))
	eventually(t, "all 40 tasks to end", 60*time.Second, func() bool { n, e := k.done(); return n == 40 && e == 40 })
	problems, states, redelivered := k.check(true)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("terminal states %v, %d terminal updates delivered again", states, redelivered)
	if states[mezzo.TaskFinished] == 0 {
		t.Errorf("no task finished: %v", states)
	}
}

// offerClock records when offers arrive and declines them.
type offerClock struct {
	*tracker
	times []time.Time
}

func (c *offerClock) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	c.mu.Lock()
	c.times = append(c.times, time.Now())
	c.mu.Unlock()
	for _, o := range offers {
		_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: 100 * time.Millisecond})
	}
}

func (c *offerClock) between(from, to time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, at := range c.times {
		if at.After(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// TestPartitionedLeaderStopsFirst cuts the leader off from etcd: it must
// stop acting (here: stop sending offers) before the standby is elected,
// and the new epoch is higher. A framework connected to the old leader
// only sees its offers stop within the acting window (lease TTL 2 s minus
// a quarter after the last renewal, which came before the cut).
func TestPartitionedLeaderStopsFirst(t *testing.T) {
	e := startEtcd(t)
	proxy, err := e.NewProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { within(t, "closing the etcd proxy", 10*time.Second, proxy.Close) })
	etcd := strings.Join(e.Endpoints(), ",")
	m1 := newHAMaster(t, "m1", strings.Join(proxy.Endpoints(), ","))
	m2 := newHAMaster(t, "m2", etcd)
	m1.start(t)
	leaderOf(t, []*haMaster{m1}, 20*time.Second)
	m2.start(t)
	startHAAgent(t, m1.addr+","+m2.addr, etcd, "cpus:1;mem:256", filepath.Join(t.TempDir(), "agent"))
	c := &offerClock{tracker: newTracker("clock", "true", 0)}
	startHADriver(t, m1.addr, mezzo.FrameworkInfo{Name: "clock", FailoverTimeout: time.Minute}, c)
	eventually(t, "offers from the leader", 20*time.Second, func() bool { return c.between(time.Time{}, time.Now()) >= 3 })
	if m2.isLeader() {
		t.Fatal("the standby leads while the leader is connected")
	}
	cut := time.Now()
	proxy.Cut()
	firstRefusal := probeRole(t, m1, 20*time.Second)
	eventually(t, "the standby to lead", 20*time.Second, m2.isLeader)
	var elected, down logLine
	eventually(t, "the logs", 15*time.Second, func() bool {
		var ok1, ok2 bool
		elected, ok2 = m2.first("elected leader")
		down, ok1 = m1.first("stepping down")
		return ok1 && ok2
	})
	first, _ := m1.first("elected leader")
	const ttl = 2 * time.Second
	windowEnd := cut.Add(ttl - ttl/4)
	t.Logf("cut at %s; m1 (epoch %d) acted until %s at the latest, logged stepping down at %s (%s); m2 elected at %s with epoch %d",
		cut.Format("15:04:05.000"), first.Epoch, windowEnd.Format("15:04:05.000"), down.Time.Format("15:04:05.000"), down.Why,
		elected.Time.Format("15:04:05.000"), elected.Epoch)
	if !windowEnd.Before(elected.Time) {
		t.Errorf("the new leader was elected at %v, inside the old one's acting window (until %v)", elected.Time, windowEnd)
	}
	if n := c.between(windowEnd.Add(100*time.Millisecond), down.Time); n > 0 {
		t.Errorf("the partitioned leader sent %d offers after its acting window closed at %v", n, windowEnd)
	}
	if elected.Epoch <= first.Epoch {
		t.Errorf("new epoch %d is not above the old one %d", elected.Epoch, first.Epoch)
	}
	if firstRefusal.After(elected.Time) {
		t.Errorf("the partitioned leader still accepted writes until %v, after the new leader's election at %v", firstRefusal, elected.Time)
	}
}

// probeRole alternates /health and an operator write (undrain of an agent
// that does not exist: the leader answers 404, a master that does not act
// 503) on a leader just cut off from etcd, until the first write is
// refused, and returns when that was. The role /health reports must
// follow the acting state exactly: after a /health that says standby no
// write is accepted, and the /health after the first refused write says
// standby.
func probeRole(t *testing.T, m *haMaster, timeout time.Duration) time.Time {
	t.Helper()
	health := func() (leader, ok bool) {
		var h struct {
			Leader bool `json:"leader"`
		}
		if err := getJSON("http://"+m.http+"/health", &h); err != nil {
			return false, false
		}
		return h.Leader, true
	}
	write := func() int {
		resp, err := httpc.Post("http://"+m.http+"/api/v1/agents/no-such-agent/undrain", "application/json", nil)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(timeout)
	saidStandby := false
	polls := 0
	for time.Now().Before(deadline) {
		leader, ok := health()
		if ok && !leader {
			saidStandby = true
		}
		switch code := write(); code {
		case http.StatusNotFound:
			if saidStandby {
				t.Errorf("/health said not-leader, yet a later write was accepted (poll %d)", polls)
			}
		case http.StatusServiceUnavailable:
			at := time.Now()
			if leader, ok := health(); ok && leader {
				t.Errorf("/health says leader after a write was refused at %s", at.Format("15:04:05.000"))
			} else if !ok {
				t.Errorf("/health does not answer after the first refused write")
			}
			t.Logf("first write refused at %s after %d polls; /health said standby before it: %v", at.Format("15:04:05.000"), polls, saidStandby)
			return at
		case 0:
		default:
			t.Fatalf("undrain of an unknown agent answered %d", code)
		}
		polls++
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the partitioned leader accepted writes for %v after the cut", timeout)
	return time.Time{}
}

// tasksOf reads the master's /tasks for one framework, by task ID.
func tasksOf(t *testing.T, m *haMaster, fw mezzo.FrameworkID) map[string]master.TaskJSON {
	t.Helper()
	var r struct {
		Tasks []master.TaskJSON `json:"tasks"`
	}
	if err := getJSON("http://"+m.http+"/tasks", &r); err != nil {
		t.Logf("tasks: %v", err)
		return nil
	}
	out := map[string]master.TaskJSON{}
	for _, tk := range r.Tasks {
		if tk.Framework == string(fw) {
			out[tk.ID] = tk
		}
	}
	return out
}

func allIn(ts map[string]master.TaskJSON, n int, state string) bool {
	if len(ts) != n {
		return false
	}
	for _, tk := range ts {
		if tk.State != state {
			return false
		}
	}
	return true
}

// TestFrameworkFailoverWithinAndPastTimeout disconnects a framework
// without tearing it down: back within its failover timeout with the same
// ID it keeps its tasks; a second framework that stays away past its
// timeout has its tasks killed and its resources recovered.
func TestFrameworkFailoverWithinAndPastTimeout(t *testing.T) {
	ms, _ := haCluster(t, 1, "cpus:2;mem:512")
	m := leaderOf(t, ms, 10*time.Second)
	all := masterList(ms)

	// Within the timeout.
	a := newTracker("a", "sleep 60", 2)
	da := startHADriver(t, all, mezzo.FrameworkInfo{Name: "a", FailoverTimeout: 30 * time.Second}, a)
	eventually(t, "a's tasks to run", 20*time.Second, func() bool { return allIn(tasksOf(t, m, da.FrameworkID()), 2, "TASK_RUNNING") })
	id := da.FrameworkID()
	within(t, "stopping a with failover", 20*time.Second, func() { _ = da.Stop(true) })
	time.Sleep(time.Second)
	a2 := newTracker("a", "sleep 60", 0)
	da2 := startHADriver(t, all, mezzo.FrameworkInfo{ID: id, Name: "a", FailoverTimeout: 30 * time.Second}, a2)
	// The call fails until the driver has re-subscribed.
	eventually(t, "a to come back", 10*time.Second, func() bool { return da2.ReconcileTasks(nil) == nil })
	if da2.FrameworkID() != id {
		t.Fatalf("a came back as %s, want %s", da2.FrameworkID(), id)
	}
	eventually(t, "a's tasks reconciled as running", 10*time.Second, func() bool {
		a2.mu.Lock()
		defer a2.mu.Unlock()
		return len(a2.recon) == 2 && a2.latest["a-1"].State == mezzo.TaskRunning && a2.latest["a-2"].State == mezzo.TaskRunning
	})
	if !allIn(tasksOf(t, m, id), 2, "TASK_RUNNING") {
		t.Errorf("a's tasks after failing over in time: %v", tasksOf(t, m, id))
	}

	// Past the timeout.
	b := newTracker("b", "sleep 60", 2)
	db := startHADriver(t, all, mezzo.FrameworkInfo{Name: "b", FailoverTimeout: 2 * time.Second}, b)
	eventually(t, "b's tasks to run", 20*time.Second, func() bool { return allIn(tasksOf(t, m, db.FrameworkID()), 2, "TASK_RUNNING") })
	bid := db.FrameworkID()
	within(t, "stopping b with failover", 20*time.Second, func() { _ = db.Stop(true) })
	eventually(t, "b's tasks to be killed past its timeout", 20*time.Second, func() bool {
		ts := tasksOf(t, m, bid)
		for _, tk := range ts {
			if tk.State == "TASK_RUNNING" || tk.State == "TASK_STAGING" || tk.State == "TASK_STARTING" {
				return false
			}
		}
		return true
	})
	eventually(t, "b's resources recovered", 10*time.Second, func() bool {
		s, err := m.state()
		if err != nil {
			return false
		}
		// Only a's two tasks use resources now.
		return s.Summary.Resources.Used["cpus"] == 0.5
	})
	if !allIn(tasksOf(t, m, id), 2, "TASK_RUNNING") {
		t.Errorf("a's tasks were touched by b's removal: %v", tasksOf(t, m, id))
	}
}

// TestReconcileAfterLeaderFailover asks the new leader for task states
// explicitly (including a task it never heard of and one killed after
// the failover) and implicitly: each answer is the latest known state.
func TestReconcileAfterLeaderFailover(t *testing.T) {
	ms, _ := haCluster(t, 1, "cpus:2;mem:512")
	k := newTracker("r", "sleep 60", 4)
	d := startHADriver(t, masterList(ms), mezzo.FrameworkInfo{Name: "r", FailoverTimeout: time.Minute}, k)
	old := leaderOf(t, ms, 10*time.Second)
	eventually(t, "4 running tasks", 20*time.Second, func() bool {
		return allIn(tasksOf(t, old, d.FrameworkID()), 4, "TASK_RUNNING")
	})
	old.p.Kill9(t)
	next := leaderOf(t, ms, 20*time.Second)
	eventually(t, "the tasks to be known to the new leader", 20*time.Second, func() bool {
		return allIn(tasksOf(t, next, d.FrameworkID()), 4, "TASK_RUNNING")
	})
	eventually(t, "the framework to be re-subscribed", 10*time.Second, func() bool {
		s, err := next.state()
		if err != nil {
			return false
		}
		for _, f := range s.Frameworks {
			if f.ID == string(d.FrameworkID()) && f.Connected {
				return true
			}
		}
		return false
	})
	if err := d.KillTask("r-4"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "r-4 killed", 10*time.Second, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.terminal["r-4"][mezzo.TaskKilled] > 0
	})

	// Explicit.
	k.mu.Lock()
	k.recon = map[mezzo.TaskID][]mezzo.TaskStatus{}
	k.mu.Unlock()
	var ask []mezzo.TaskStatus
	for _, id := range []mezzo.TaskID{"r-1", "r-2", "r-3", "r-4", "r-nope"} {
		ask = append(ask, mezzo.TaskStatus{TaskID: id})
	}
	if err := d.ReconcileTasks(ask); err != nil {
		t.Fatal(err)
	}
	want := map[mezzo.TaskID]mezzo.TaskState{"r-1": mezzo.TaskRunning, "r-2": mezzo.TaskRunning, "r-3": mezzo.TaskRunning,
		"r-4": mezzo.TaskKilled, "r-nope": mezzo.TaskLost}
	eventually(t, "explicit reconciliation answers", 10*time.Second, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return len(k.recon) == len(want)
	})
	k.mu.Lock()
	for id, st := range want {
		if got := k.recon[id]; len(got) != 1 || got[0].State != st {
			t.Errorf("explicit reconciliation of %s: got %v, want one %v", id, got, st)
		}
	}
	k.recon = map[mezzo.TaskID][]mezzo.TaskStatus{}
	k.mu.Unlock()

	// Implicit: every live task, nothing else.
	if err := d.ReconcileTasks(nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "implicit reconciliation answers", 10*time.Second, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return len(k.recon) >= 3
	})
	time.Sleep(300 * time.Millisecond) // any extra answer would arrive by now
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.recon) != 3 {
		t.Errorf("implicit reconciliation answered for %d tasks, want the 3 live ones: %v", len(k.recon), k.recon)
	}
	for _, id := range []mezzo.TaskID{"r-1", "r-2", "r-3"} {
		if got := k.recon[id]; len(got) != 1 || got[0].State != mezzo.TaskRunning {
			t.Errorf("implicit reconciliation of %s: %v", id, got)
		}
	}
}
