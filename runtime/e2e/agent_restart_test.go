package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/isolation"
)

// recorder launches its tasks together on the first offer that holds them
// all and records every status update it receives.
type recorder struct {
	tasks []mezzo.TaskInfo

	mu       sync.Mutex
	launched bool
	updates  map[mezzo.TaskID][]mezzo.TaskStatus
}

func (r *recorder) Registered(mezzo.Driver, mezzo.FrameworkID) {}

func (r *recorder) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var need mezzo.Resources
	for _, t := range r.tasks {
		need = need.Add(t.Resources)
	}
	for _, o := range offers {
		if r.launched || !o.Resources.Contains(need) {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Second})
			continue
		}
		r.launched = true
		tasks := append([]mezzo.TaskInfo(nil), r.tasks...)
		for i := range tasks {
			tasks[i].AgentID = o.AgentID
		}
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{})
	}
}

func (r *recorder) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

func (r *recorder) StatusUpdate(_ mezzo.Driver, st mezzo.TaskStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates[st.TaskID] = append(r.updates[st.TaskID], st)
}

func (r *recorder) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (r *recorder) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (r *recorder) Error(mezzo.Driver, string)                                             {}

// ended returns the terminal updates of a task, one per uuid.
func (r *recorder) ended(id mezzo.TaskID) []mezzo.TaskStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []mezzo.TaskStatus
	for _, s := range r.updates[id] {
		if s.State.Terminal() && !seen[s.UUID] {
			seen[s.UUID] = true
			out = append(out, s)
		}
	}
	return out
}

func (r *recorder) states(id mezzo.TaskID) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.updates[id] {
		out = append(out, s.State.String())
	}
	return out
}

// executorPids reads the agent's executor checkpoints: the pid of the
// executor running each task.
func executorPids(t *testing.T, workDir string) map[mezzo.TaskID]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(workDir, "executors", "*.json"))
	out := map[mezzo.TaskID]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cp struct {
			Container struct {
				Pid int `json:"pid"`
			} `json:"container"`
			Tasks []struct {
				TaskID string `json:"taskId"`
			} `json:"tasks"`
		}
		if err := json.Unmarshal(b, &cp); err != nil {
			t.Fatalf("checkpoint %s: %v", f, err)
		}
		for _, tk := range cp.Tasks {
			out[mezzo.TaskID(tk.TaskID)] = cp.Container.Pid
		}
	}
	return out
}

// An agent killed with -9 while tasks run, and restarted on the same work
// directory before the master gives up on it, reconnects to the executors:
// the task that kept running finishes normally, and the framework sees its
// RUNNING and FINISHED and nothing else; the task whose executor died while
// the agent was down ends once, as lost.
func TestAgentKill9AndRestartKeepsRunningTasks(t *testing.T) {
	// The master must not remove the agent while it restarts.
	_, addr := startMaster(t, "--ping-timeout", "30s")
	work, files := t.TempDir(), t.TempDir()
	loop := func(id string) mezzo.TaskInfo {
		pid, stop := filepath.Join(files, id+".pid"), filepath.Join(files, id+".stop")
		return mezzo.TaskInfo{ID: mezzo.TaskID(id), Resources: mezzo.MustParseResources("cpus:0.5;mem:32"),
			Command: &mezzo.CommandInfo{Shell: true, Value: fmt.Sprintf("echo $$ > %s; while [ -d %s ] && [ ! -e %s ]; do sleep 0.05; done", pid, files, stop)}}
	}
	t.Cleanup(func() { // no task outlives the test, whatever failed (nor its files dir)
		for _, id := range []string{"runs", "dies"} {
			_ = os.WriteFile(filepath.Join(files, id+".stop"), nil, 0o644)
		}
	})
	ag := startAgent(t, addr, "cpus:2;mem:512", work)
	r := &recorder{tasks: []mezzo.TaskInfo{loop("runs"), loop("dies")}, updates: map[mezzo.TaskID][]mezzo.TaskStatus{}}
	runDriver(t, addr, r, "restart")
	eventually(t, "both tasks running", 20*time.Second, func() bool {
		return len(r.states("runs")) > 0 && len(r.states("dies")) > 0
	})
	pids := executorPids(t, work)
	var diesTask int
	eventually(t, "the tasks' pid files", 10*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(files, "dies.pid"))
		diesTask, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return diesTask > 0
	})

	ag.Kill9(t)
	if !isolation.Alive(pids["runs"]) {
		t.Fatalf("the executor of runs (pid %d) died with its agent", pids["runs"])
	}
	_ = syscall.Kill(pids["dies"], syscall.SIGKILL)
	_ = syscall.Kill(diesTask, syscall.SIGKILL)
	eventually(t, "the killed executor to be gone", 10*time.Second, func() bool { return !isolation.Alive(pids["dies"]) })

	restarted := time.Now()
	ag = startAgent(t, addr, "cpus:2;mem:512", work)
	eventually(t, "the restarted agent to adopt the live executor", 20*time.Second, func() bool {
		return strings.Contains(ag.Output(), "executor of a previous run adopted")
	})
	adopted := time.Since(restarted)
	// It re-registers once the executor has reconnected.
	eventually(t, "the restarted agent to re-register", 20*time.Second, func() bool {
		return strings.Contains(ag.Output(), "reregistered=true")
	})
	t.Logf("restarted agent: executor adopted %v, re-registered %v after the start", adopted.Round(time.Millisecond),
		time.Since(restarted).Round(time.Millisecond))
	if err := os.WriteFile(filepath.Join(files, "runs.stop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both tasks to end", 20*time.Second, func() bool {
		return len(r.ended("runs")) > 0 && len(r.ended("dies")) > 0
	})
	// Settled: every update acknowledged (the agent removes a stream once
	// its terminal update is) and no executor left; whatever was to reach
	// the framework has.
	eventually(t, "every update acknowledged", 20*time.Second, func() bool {
		streams, _ := filepath.Glob(filepath.Join(work, "status", "*", "*"))
		cps, _ := filepath.Glob(filepath.Join(work, "executors", "*.json"))
		return len(streams) == 0 && len(cps) == 0
	})

	states := r.states("runs")
	if ended := r.ended("runs"); len(ended) != 1 || ended[0].State != mezzo.TaskFinished {
		t.Errorf("runs: updates %v, want one terminal update, TASK_FINISHED", states)
	}
	for _, s := range states {
		if s != mezzo.TaskRunning.String() && s != mezzo.TaskFinished.String() {
			t.Errorf("runs: updates %v, want only TASK_RUNNING and TASK_FINISHED", states)
			break
		}
	}
	if states[0] != mezzo.TaskRunning.String() {
		t.Errorf("runs: first update %s, want TASK_RUNNING", states[0])
	}
	if ended := r.ended("dies"); len(ended) != 1 || ended[0].State != mezzo.TaskLost || ended[0].Reason != mezzo.ReasonAgentRestarted {
		t.Errorf("dies: terminal updates %+v (all: %v), want one TASK_LOST for the agent restart", ended, r.states("dies"))
	}
	if isolation.Alive(pids["runs"]) {
		t.Errorf("the executor of the finished task (pid %d) is still running", pids["runs"])
	}
}
