package master

import (
	"sort"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// completedKept bounds how many finished tasks per framework the master
// remembers for reconciliation.
const completedKept = 1000

type framework struct {
	id mezzo.FrameworkID
	// info.Principal registered the framework; only it may act for it
	// (and whoever the ACL lets kill or tear down its frameworks). It is
	// fixed at registration, or taken from the registry or the agents
	// when a new master rebuilds the framework (recovery.go).
	info     mezzo.FrameworkInfo
	streamID string
	out      *outbox[*api.SchedulerEvent] // nil while disconnected
	// disconnectedAt is when the stream broke; zero while connected.
	disconnectedAt time.Time
	tasks          map[mezzo.TaskID]*task // live and recently finished
	completed      []mezzo.TaskID         // finished, oldest first
	stats          FrameworkStats
	// counted says the framework counts towards its principal's cap
	// (limits.go).
	counted bool
}

func (fw *framework) send(ev *api.SchedulerEvent) {
	if fw.out != nil {
		fw.out.push(ev)
	}
}

// failoverTimeout is the framework's own failover timeout, else def, at
// most limit: a framework rebuilt from an agent's or the registry's record
// may carry a timeout from before the master's limit was lowered.
func (fw *framework) failoverTimeout(def, limit time.Duration) time.Duration {
	d := def
	if fw.info.FailoverTimeout > 0 {
		d = fw.info.FailoverTimeout
	}
	return min(d, limit)
}

type task struct {
	fw       mezzo.FrameworkID
	agent    mezzo.AgentID
	info     mezzo.TaskInfo
	executor mezzo.ExecutorID
	state    mezzo.TaskState
	latest   mezzo.TaskStatus
	seen     map[string]struct{} // update UUIDs already applied
	started  time.Time           // first TASK_RUNNING, for cpu·s
	// ownEnd: the master ended the task on its own, not on its agent's
	// word (the agent was removed, or the master answered TASK_LOST for a
	// task it did not know). The agent's own end, should it come, would be
	// a second terminal state: the master answers it with its own instead.
	ownEnd bool
	// unknown: ended as unknown (reconciliation, kill, or an earlier
	// leader's record), so on whatever agent it turns up.
	unknown bool
}

type execKey struct {
	fw mezzo.FrameworkID
	id mezzo.ExecutorID
}

type taskKey struct {
	fw mezzo.FrameworkID
	id mezzo.TaskID
}

type agentRec struct {
	id        mezzo.AgentID
	info      alloc.AgentInfo
	sessionID string
	principal string                      // who registered the agent; only it may speak for it
	out       *outbox[*api.AgentEvent]    // nil while disconnected
	live      *liveness                   // last heard from; what Pong handlers see (liveness.go)
	tasks     map[*task]struct{}          // live tasks
	executors map[execKey]mezzo.Resources // resources charged for executors
}

func (ag *agentRec) send(ev *api.AgentEvent) bool {
	return ag.out != nil && ag.out.push(ev)
}

func (ag *agentRec) sortedTasks() []*task {
	out := make([]*task, 0, len(ag.tasks))
	for t := range ag.tasks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].fw != out[j].fw {
			return out[i].fw < out[j].fw
		}
		return out[i].info.ID < out[j].info.ID
	})
	return out
}

// FrameworkStats counts what a framework got from the master.
type FrameworkStats struct {
	OffersReceived int
	TasksLaunched  int
	// TasksByState counts terminal states reached, by name.
	TasksByState map[string]int
	// TaskErrors counts tasks refused at launch (TASK_ERROR, TASK_DROPPED).
	TaskErrors int
	// CPUSeconds sums cpus × running time of tasks that ended.
	CPUSeconds float64
}

// FrameworkSnapshot is one framework in a Snapshot.
type FrameworkSnapshot struct {
	ID        mezzo.FrameworkID
	Principal string // who registered it ("" without authentication)
	Name      string
	Connected bool
	Removed   bool
	LiveTasks int
	Stats     FrameworkStats
	Alloc     alloc.FrameworkState // zero once removed
}

// AgentSnapshot is one agent in a Snapshot.
type AgentSnapshot struct {
	ID        mezzo.AgentID
	Hostname  string
	Connected bool
	LiveTasks int
	Alloc     alloc.AgentState
}

// Snapshot is a consistent picture of the master at one instant.
type Snapshot struct {
	Policy     string
	Totals     alloc.Totals
	Frameworks []FrameworkSnapshot // sorted by ID, removed ones included
	Agents     []AgentSnapshot     // sorted by ID
	// Check is the allocator's invariant check ("" when it holds).
	Check string
	// HA is the leader election's and recovery's state (RecoveryStats).
	HA RecoveryStats
}

func (m *Master) snapshot() Snapshot {
	s := Snapshot{Policy: m.cfg.Policy, Totals: m.alloc.Totals(), HA: m.recoveryStats()}
	if err := m.alloc.Check(); err != nil {
		s.Check = err.Error()
	}
	add := func(fw *framework, removed bool) {
		fs := FrameworkSnapshot{ID: fw.id, Principal: fw.info.Principal, Name: fw.info.Name, Connected: fw.out != nil, Removed: removed, Stats: fw.stats}
		fs.Stats.TasksByState = map[string]int{}
		for k, v := range fw.stats.TasksByState {
			fs.Stats.TasksByState[k] = v
		}
		for _, t := range fw.tasks {
			if !t.state.Terminal() {
				fs.LiveTasks++
			}
		}
		if !removed {
			fs.Alloc, _ = m.alloc.Framework(fw.id)
		}
		s.Frameworks = append(s.Frameworks, fs)
	}
	for _, fw := range m.frameworks {
		add(fw, false)
	}
	for _, fw := range m.removed {
		add(fw, true)
	}
	sort.Slice(s.Frameworks, func(i, j int) bool { return s.Frameworks[i].ID < s.Frameworks[j].ID })
	states := map[mezzo.AgentID]alloc.AgentState{}
	for _, as := range m.alloc.Agents() {
		states[as.ID] = as
	}
	for _, ag := range m.sortedAgents() {
		s.Agents = append(s.Agents, AgentSnapshot{ID: ag.id, Hostname: ag.info.Hostname, Connected: ag.out != nil, LiveTasks: len(ag.tasks), Alloc: states[ag.id]})
	}
	return s
}
