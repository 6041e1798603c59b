package master

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
)

// DefaultViewMaxAge is how old a state view may get before a reader asks
// the loop for a new one.
const DefaultViewMaxAge = 250 * time.Millisecond

// viewCostFactor: a view is kept at least this many times as long as it
// took the loop to build it.
const viewCostFactor = 20

// AgentHTTPAttribute is the agent attribute that carries the host:port of
// the agent's HTTP server (its /metrics and /sandbox); `mezzo agent --http`
// sets it, and the master's sandbox proxy and UI read it.
const AgentHTTPAttribute = "mezzo.http"

// View is a read-only picture of the master taken on its loop, shared by
// the state endpoints, the UI and the metrics. Readers must not modify it.
//
// The loop only copies what it owns (cheap, linear, no sorting, no
// formatting); sorting and summing happen in the reader's goroutine.
type View struct {
	Time     time.Time
	MasterID string
	Policy   string
	Leader   bool
	Totals   alloc.Totals
	Summary  ViewSummary
	// Frameworks are sorted by ID, removed ones included.
	Frameworks []FrameworkSnapshot
	Roles      []RoleView // sorted by name
	Agents     []AgentView
	Tasks      []TaskView // sorted by framework, then task ID

	agentIndex map[mezzo.AgentID]int
	// tasksByAgent indexes Tasks (live ones only) by agent.
	tasksByAgent map[mezzo.AgentID][]int

	encOnce sync.Once
	enc     []byte
	encErr  error
}

// ViewSummary counts what the cluster overview shows.
type ViewSummary struct {
	AgentsActive, AgentsUnreachable                         int
	FrameworksActive, FrameworksInactive, FrameworksRemoved int
	LiveTasks                                               map[string]int // by state
	EndedTasks                                              map[string]int // terminal states reached, by state
	PendingAcks                                             int

	// AgentsDraining counts agents under maintenance (`mezzo drain`),
	// connected or not; connected ones count as active too.
	AgentsDraining int
}

// RoleView is one role's allocation.
type RoleView struct {
	Name          string
	Frameworks    int
	Allocated     mezzo.Resources // used + offered, scalars
	DominantShare float64
}

// AgentView is one agent.
type AgentView struct {
	ID         mezzo.AgentID
	Hostname   string
	Connected  bool
	Attributes []mezzo.Attribute
	Alloc      alloc.AgentState
	LiveTasks  int
	// Draining: under maintenance, offered nothing until undrained;
	// DrainDeadline is when the operator means to take it down (zero:
	// none given).
	Draining      bool
	DrainDeadline time.Time
}

// HTTPAddr is the agent's HTTP server address, "" when it has none.
func (a AgentView) HTTPAddr() string {
	for _, at := range a.Attributes {
		if at.Name == AgentHTTPAttribute {
			return at.Value
		}
	}
	return ""
}

// TaskView is one task the master knows (live, or recently ended).
type TaskView struct {
	ID        mezzo.TaskID
	Name      string
	Framework mezzo.FrameworkID
	Agent     mezzo.AgentID
	Executor  mezzo.ExecutorID // "" for a task run by its own command executor
	Command   bool
	State     mezzo.TaskState
	Reason    mezzo.Reason
	Message   string
	Updated   time.Time
	Resources mezzo.Resources
}

// Agent looks an agent up by ID.
func (v *View) Agent(id mezzo.AgentID) (AgentView, bool) {
	i, ok := v.agentIndex[id]
	if !ok {
		return AgentView{}, false
	}
	return v.Agents[i], true
}

// AgentTasks returns the live tasks on an agent.
func (v *View) AgentTasks(id mezzo.AgentID) []TaskView {
	idx := v.tasksByAgent[id]
	out := make([]TaskView, len(idx))
	for i, j := range idx {
		out[i] = v.Tasks[j]
	}
	return out
}

// Task finds a task by framework and ID.
func (v *View) Task(fw mezzo.FrameworkID, id mezzo.TaskID) (TaskView, bool) {
	i := sort.Search(len(v.Tasks), func(i int) bool {
		t := v.Tasks[i]
		return t.Framework > fw || (t.Framework == fw && t.ID >= id)
	})
	if i < len(v.Tasks) && v.Tasks[i].Framework == fw && v.Tasks[i].ID == id {
		return v.Tasks[i], true
	}
	return TaskView{}, false
}

// viewCache coalesces readers: at most one view is built per maxAge, and
// concurrent readers of a stale view share the one refresh.
type viewCache struct {
	mu         sync.Mutex
	maxAge     time.Duration
	loopCost   time.Duration // time the last build held the loop
	cur        *View
	refreshing chan struct{}
}

// SetViewMaxAge sets how stale the state view may get (default
// DefaultViewMaxAge); shorter means fresher pages and more work on the loop.
// A view is also kept at least 20 times as long as the loop took to build
// it, so reads never take more than 5% of the loop; 0 rebuilds on every
// read (tests, benchmarks).
func (m *Master) SetViewMaxAge(d time.Duration) {
	m.obs.views.mu.Lock()
	m.obs.views.maxAge = d
	m.obs.views.mu.Unlock()
}

// View returns the state view, asking the loop for a new one when the last
// is older than the view's max age. Many readers at once cost one build.
func (m *Master) View(ctx context.Context) (*View, error) {
	c := &m.obs.views
	for {
		c.mu.Lock()
		// A big cluster's view costs the loop more; keeping it at least
		// viewCostFactor times its cost old bounds the loop's time spent
		// on views to 1/viewCostFactor, however often it is read.
		if c.cur != nil && c.maxAge > 0 && time.Since(c.cur.Time) < max(c.maxAge, viewCostFactor*c.loopCost) {
			v := c.cur
			c.mu.Unlock()
			return v, nil
		}
		if ch := c.refreshing; ch != nil {
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.refreshing = ch
		c.mu.Unlock()

		var v *View
		var cost time.Duration
		err := m.call(ctx, func() error {
			start := time.Now()
			v = m.buildView()
			cost = time.Since(start)
			return nil
		})
		if err == nil {
			v.finish()
		}
		c.mu.Lock()
		if err == nil {
			c.cur, c.loopCost = v, cost
		}
		c.refreshing = nil
		close(ch)
		last := c.cur
		c.mu.Unlock()
		if err != nil {
			if last != nil {
				return last, nil // stopping: the last picture still answers reads
			}
			return nil, errors.New("master: state unavailable: " + err.Error())
		}
		return v, nil
	}
}

// buildView copies the loop's state; it runs on the loop, so it does no
// more than copying.
func (m *Master) buildView() *View {
	v := &View{Time: time.Now(), MasterID: m.cfg.MasterID, Policy: m.cfg.Policy, Leader: m.Leader(), Totals: m.alloc.Totals()}
	v.Summary.PendingAcks = m.obs.pendingAcks(func(id mezzo.FrameworkID) bool { return m.frameworks[id] != nil })
	fwAlloc := map[mezzo.FrameworkID]alloc.FrameworkState{}
	for _, fs := range m.alloc.Frameworks() {
		fwAlloc[fs.ID] = fs
	}
	add := func(fw *framework, removed bool) {
		fs := FrameworkSnapshot{ID: fw.id, Principal: fw.info.Principal, Name: fw.info.Name, Connected: fw.out != nil, Removed: removed, Stats: fw.stats, Alloc: fwAlloc[fw.id]}
		fs.Stats.TasksByState = make(map[string]int, len(fw.stats.TasksByState))
		for k, n := range fw.stats.TasksByState {
			fs.Stats.TasksByState[k] = n
		}
		if removed {
			fs.Alloc = alloc.FrameworkState{ID: fw.id, Role: fw.info.RoleOrDefault()}
		}
		for _, t := range fw.tasks {
			if !t.state.Terminal() {
				fs.LiveTasks++
			}
			v.Tasks = append(v.Tasks, TaskView{ID: t.info.ID, Name: t.info.Name, Framework: fw.id, Agent: t.agent, Executor: t.executor,
				Command: t.info.Command != nil, State: t.state, Reason: t.latest.Reason, Message: t.latest.Message,
				Updated: t.latest.Time, Resources: t.info.Resources})
		}
		v.Frameworks = append(v.Frameworks, fs)
	}
	for _, fw := range m.frameworks {
		add(fw, false)
	}
	for _, fw := range m.removed {
		add(fw, true)
	}
	agState := m.alloc.Agents()
	byID := make(map[mezzo.AgentID]int, len(agState))
	for i, as := range agState {
		byID[as.ID] = i
	}
	v.Agents = make([]AgentView, 0, len(m.agents))
	for _, ag := range m.agents {
		av := AgentView{ID: ag.id, Hostname: ag.info.Hostname, Connected: ag.out != nil, Attributes: ag.info.Attributes, LiveTasks: len(ag.tasks)}
		if i, ok := byID[ag.id]; ok {
			av.Alloc = agState[i]
		}
		if d, ok := m.drains[ag.id]; ok {
			av.Draining, av.DrainDeadline = true, d.deadline
		}
		v.Agents = append(v.Agents, av)
	}
	return v
}

// finish sorts and sums a freshly copied view, off the loop.
func (v *View) finish() {
	sort.Slice(v.Frameworks, func(i, j int) bool { return v.Frameworks[i].ID < v.Frameworks[j].ID })
	sort.Slice(v.Agents, func(i, j int) bool { return v.Agents[i].ID < v.Agents[j].ID })
	sort.Slice(v.Tasks, func(i, j int) bool {
		a, b := v.Tasks[i], v.Tasks[j]
		if a.Framework != b.Framework {
			return a.Framework < b.Framework
		}
		return a.ID < b.ID
	})
	s := &v.Summary
	s.LiveTasks, s.EndedTasks = map[string]int{}, map[string]int{}
	v.agentIndex = make(map[mezzo.AgentID]int, len(v.Agents))
	for i, a := range v.Agents {
		v.agentIndex[a.ID] = i
		if a.Draining {
			s.AgentsDraining++
		}
		if a.Connected {
			s.AgentsActive++
		} else {
			s.AgentsUnreachable++
		}
	}
	v.tasksByAgent = map[mezzo.AgentID][]int{}
	for i, t := range v.Tasks {
		if !t.State.Terminal() {
			s.LiveTasks[t.State.String()]++
			v.tasksByAgent[t.Agent] = append(v.tasksByAgent[t.Agent], i)
		}
	}
	roles := map[string]*RoleView{}
	for _, fw := range v.Frameworks {
		switch {
		case fw.Removed:
			s.FrameworksRemoved++
		case fw.Connected:
			s.FrameworksActive++
		default:
			s.FrameworksInactive++
		}
		for st, n := range fw.Stats.TasksByState {
			s.EndedTasks[st] += n
		}
		if fw.Removed {
			continue
		}
		r := roles[fw.Alloc.Role]
		if r == nil {
			r = &RoleView{Name: fw.Alloc.Role}
			roles[fw.Alloc.Role] = r
		}
		r.Frameworks++
		r.Allocated = r.Allocated.Add(fw.Alloc.Used).Add(fw.Alloc.Offered)
	}
	for _, name := range sortedStrings(roles) {
		r := roles[name]
		r.DominantShare = r.Allocated.DominantShare(v.Totals.Total)
		v.Roles = append(v.Roles, *r)
	}
}
