package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// TestChaos runs for MEZZO_CHAOS (a duration, e.g. 2m; skipped when
// unset, see `make chaos`): three masters elected on etcd, three agents
// and two frameworks running short tasks, while a seeded random master or
// agent is killed with -9 every few seconds and restarted. At the end
// every task reached exactly one terminal state the framework saw, no
// executor was started twice, and the leader's allocator totals match the
// live agents.
func TestChaos(t *testing.T) {
	spec := os.Getenv("MEZZO_CHAOS")
	if spec == "" {
		t.Skip("set MEZZO_CHAOS=2m (or run make chaos) for the chaos run")
	}
	dur, err := time.ParseDuration(spec)
	if err != nil {
		t.Fatalf("MEZZO_CHAOS=%q: want a duration such as 2m: %v", spec, err)
	}
	// MEZZO_CHAOS_RECOVER picks what restarted agents do with the executors
	// their killed run left: reconnect (the default) or cleanup.
	recoverMode := os.Getenv("MEZZO_CHAOS_RECOVER")
	if recoverMode == "" {
		recoverMode = "reconnect"
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))

	e := startEtcd(t)
	etcd := strings.Join(e.Endpoints(), ",")
	ms := []*haMaster{newHAMaster(t, "m1", etcd), newHAMaster(t, "m2", etcd), newHAMaster(t, "m3", etcd)}
	for _, m := range ms {
		m.start(t)
	}
	leaderOf(t, ms, 20*time.Second)
	all := masterList(ms)
	procs := []*proc{ms[0].p, ms[1].p, ms[2].p} // every process started, for the failure dump
	const agentRes = "cpus:2;mem:512"
	dirs := make([]string, 3)
	agents := make([]*proc, 3)
	for i := range agents {
		dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("agent-%d", i))
		agents[i] = startHAAgent(t, all, etcd, agentRes, dirs[i], "--recover", recoverMode)
		procs = append(procs, agents[i])
	}
	fa, fb := newTracker("a", "sleep 0.3", 1<<30), newTracker("b", "sleep 0.5", 1<<30)
	startHADriver(t, all, mezzo.FrameworkInfo{Name: "a", FailoverTimeout: 10 * time.Minute}, fa)
	startHADriver(t, all, mezzo.FrameworkInfo{Name: "b", FailoverTimeout: 10 * time.Minute}, fb)
	eventually(t, "tasks to run", 30*time.Second, func() bool { n, _ := fa.done(); m, _ := fb.done(); return n > 0 && m > 0 })

	kills := map[string]int{}
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		time.Sleep(2*time.Second + time.Duration(rng.IntN(3000))*time.Millisecond)
		if i := rng.IntN(len(ms) + len(agents)); i < len(ms) {
			m := ms[i]
			what := "standby"
			if m.isLeader() {
				what = "leader"
			}
			m.p.Kill9(t)
			kills["master ("+what+")"]++
			time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
			m.start(t)
			procs = append(procs, m.p)
		} else {
			i -= len(ms)
			agents[i].Kill9(t)
			kills["agent"]++
			time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
			agents[i] = startHAAgent(t, all, etcd, agentRes, dirs[i], "--recover", recoverMode)
			procs = append(procs, agents[i])
		}
	}
	for _, k := range []*tracker{fa, fb} {
		k.mu.Lock()
		k.paused = true
		k.mu.Unlock()
	}
	lead := leaderOf(t, ms, 30*time.Second)
	allEnded := func() bool {
		n, e := fa.done()
		m, f := fb.done()
		return n == e && m == f
	}
	for deadline := time.Now().Add(90 * time.Second); !allEnded(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			for _, k := range []*tracker{fa, fb} {
				dumpUnended(t, k, lead, procs)
			}
			t.Fatalf("timed out after 90s waiting for every task to end (kills %v)", kills)
		}
	}
	for _, k := range []*tracker{fa, fb} {
		problems, states, redelivered := k.check(true)
		for _, p := range problems {
			t.Errorf("framework %s: %s", k.name, p)
		}
		n, _ := k.done()
		k.mu.Lock()
		why := map[mezzo.Reason]int{}
		for id, ts := range k.terminal {
			if ts[mezzo.TaskLost] > 0 {
				why[k.endedWhy[id]]++
			}
		}
		k.mu.Unlock()
		t.Logf("framework %s: %d tasks, terminal states %v (TASK_LOST by reason %v), %d terminal updates delivered again", k.name, n, states, why, redelivered)
	}
	// No task ran twice: every agent that ever ran logged each executor it
	// started (an adopted one is not started again).
	started := map[string]int{}
	re := regexp.MustCompile(`msg="executor started" framework=\S+ executor=(\S+)`)
	for _, p := range procs {
		if p.Cmd.Args[1] != "agent" {
			continue
		}
		for _, m := range re.FindAllStringSubmatch(p.Output(), -1) {
			started[m[1]]++
		}
	}
	if n, _ := fa.done(); len(started) == 0 && n > 0 {
		t.Errorf("no \"executor started\" line in any agent's log: the check below checks nothing")
	}
	for ex, n := range started {
		if n > 1 {
			t.Errorf("executor %s started %d times", ex, n)
		}
	}
	eventually(t, "allocator totals to match the 3 live agents", 30*time.Second, func() bool {
		s, err := lead.state()
		if err != nil {
			return false
		}
		var cpus, mem float64
		live := 0
		for _, a := range s.Agents {
			if a.Connected {
				live++
				cpus += a.Total["cpus"]
				mem += a.Total["mem"]
			}
		}
		r := s.Summary.Resources
		return live == 3 && s.Summary.AgentsActive == 3 && r.Total["cpus"] == 6 && cpus == 6 && r.Total["mem"] == 1536 && mem == 1536 &&
			r.Used["cpus"] == 0 && r.Free["cpus"]+r.Offered["cpus"] == 6
	})
	t.Logf("survived %v (--recover=%s): kills %v; %d executors started, each once", dur, recoverMode, kills, len(started))
}

// dumpUnended logs, for each task of k that has not ended (at most 10),
// what the framework heard, what the leader says, and every log line of
// every process that names the task: enough to tell where it was lost.
func dumpUnended(t *testing.T, k *tracker, lead *haMaster, procs []*proc) {
	t.Helper()
	k.mu.Lock()
	var ids []string
	for id := range k.launched {
		if len(k.terminal[id]) == 0 {
			ids = append(ids, string(id))
		}
	}
	sort.Strings(ids)
	heard := map[string]string{}
	for _, id := range ids {
		heard[id] = fmt.Sprintf("latest %v (%s), reconciliation %v", k.latest[mezzo.TaskID(id)].State, k.latest[mezzo.TaskID(id)].Message, k.recon[mezzo.TaskID(id)])
	}
	k.mu.Unlock()
	t.Errorf("framework %s: %d tasks never ended: %v", k.name, len(ids), ids)
	if len(ids) > 10 {
		ids = ids[:10]
	}
	var tasks []master.TaskJSON
	if err := getJSON("http://"+lead.http+"/tasks", &struct {
		Tasks *[]master.TaskJSON `json:"tasks"`
	}{&tasks}); err != nil {
		t.Logf("leader's /tasks: %v", err)
	}
	for _, id := range ids {
		t.Logf("== %s: framework heard %s", id, heard[id])
		for _, tj := range tasks {
			if tj.ID == id {
				t.Logf("   leader: %+v", tj)
			}
		}
		re := regexp.MustCompile(regexp.QuoteMeta(id) + `\b`)
		for i, p := range procs {
			for _, line := range strings.Split(p.Output(), "\n") {
				if re.MatchString(line) {
					t.Logf("   [%d %s] %s", i, p.Cmd.Args[1], line)
				}
			}
		}
	}
}
