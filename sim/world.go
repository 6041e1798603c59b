package sim

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
)

// DefaultLatency is the one-way delay of every message between a framework,
// the master and an agent unless configured otherwise: 1 ms, a round trip
// inside one data-centre network plus a little processing. It keeps causes
// strictly before effects in virtual time (an offer is never answered at the
// instant it was made), and it is small next to task durations of seconds.
const DefaultLatency = time.Millisecond

// DefaultAllocationInterval is the allocator's batch interval unless
// configured otherwise: 1 s, as in Mesos (--allocation_interval).
const DefaultAllocationInterval = time.Second

// DefaultExecutorWait bounds, in wall time, how long the simulator waits for
// a custom executor that reports from its own goroutine (see [WorldConfig]).
const DefaultExecutorWait = 10 * time.Second

// ExecutorRegistry maps an executor kind (mezzo.ExecutorInfo.Kind, such as
// "pi") to a constructor. It is passed in explicitly; there is no global
// registry.
type ExecutorRegistry map[string]func() mezzo.Executor

// WorldConfig configures the master and agent side of a simulation.
type WorldConfig struct {
	// Latency is the one-way delay of each message between framework,
	// master and agent. 0 means DefaultLatency; a negative value means none.
	Latency time.Duration
	// AllocationInterval is the period of the full allocation cycle. 0
	// means DefaultAllocationInterval.
	AllocationInterval time.Duration
	// Executors are the custom executors tasks may name by kind.
	Executors ExecutorRegistry
	// ExecutorWait bounds the wall-time wait for an executor that reports
	// a task's end from its own goroutine. 0 means DefaultExecutorWait.
	ExecutorWait time.Duration
	// Failures are agent outages to play out.
	Failures []Failure
	// Check runs alloc.Check after every event of the world and stops the
	// engine at the first violation (see World.Err). It costs a full pass
	// over the allocator per event: use it on small runs.
	Check bool
}

// Hooks let the run layer observe tasks without the frameworks' help. Each
// is optional and runs inside the event that causes it.
type Hooks struct {
	// TaskLaunched runs when the master accepts a task onto an agent.
	TaskLaunched func(fw mezzo.FrameworkID, task *mezzo.TaskInfo, agent mezzo.AgentID, level Level)
	// TaskEnded runs when the master records a task's terminal state.
	TaskEnded func(fw mezzo.FrameworkID, task *mezzo.TaskInfo, agent mezzo.AgentID, level Level, state mezzo.TaskState)
	// Tick runs after each periodic allocation cycle.
	Tick func()
}

// Stats count what the world did.
type Stats struct {
	// Submitted counts tasks frameworks asked to launch; Launched those the
	// master accepted; Rejected those it answered with TASK_ERROR; Ended
	// the accepted tasks that reached a terminal state (each counted once).
	Submitted, Launched, Rejected, Ended int
	// Offers counts offers made; Cycles allocation cycles run (periodic
	// and incremental).
	Offers, Cycles int
	// AsyncExecutorUpdates counts executor reports that arrived outside
	// any simulator callback after the wait gave up: each one is a point
	// where the run stopped being deterministic.
	AsyncExecutorUpdates int
}

// World is the simulated master and its agents: it owns the allocator, turns
// its offers into ResourceOffers callbacks, validates launches as a Mesos
// master would, runs tasks on the modelled agents and reports their status,
// all in virtual time on an Engine. Each registered framework talks to it
// through its own [mezzo.Driver].
type World struct {
	eng     *Engine
	alloc   *alloc.Allocator
	cluster *Cluster
	dfs     *DFS
	cfg     WorldConfig
	latency time.Duration
	hooks   Hooks

	frameworks []*simFramework
	fwByID     map[mezzo.FrameworkID]*simFramework
	agents     []*simAgent
	agentByID  map[mezzo.AgentID]*simAgent
	offers     map[mezzo.OfferID]*offerRec

	pendingAgents []*simAgent
	pendingFull   bool
	allocQueued   bool
	tick          Timer
	started       bool

	taskSeq  uint64
	execSeq  uint64
	stats    Stats
	err      error
	asyncMsg atomic.Bool // an executor reported from a goroutine after the wait
	execs    []*simExecutor
}

type simAgent struct {
	a           Agent
	index       int
	up          bool
	incarnation int
	pending     bool // queued for incremental allocation
	tasks       map[*simTask]struct{}
	executors   map[execKey]*simExecutor
}

type execKey struct {
	fw mezzo.FrameworkID
	id mezzo.ExecutorID
}

type offerRec struct {
	offer     mezzo.Offer
	fw        *simFramework
	delivered bool
}

type simFramework struct {
	id      mezzo.FrameworkID
	info    mezzo.FrameworkInfo
	sched   mezzo.Scheduler
	drv     *driver
	tasks   map[mezzo.TaskID]*simTask
	stopped bool // no more callbacks
	removed bool // gone from the allocator
}

type simTask struct {
	seq         uint64
	fw          *simFramework
	info        mezzo.TaskInfo
	agent       *simAgent
	incarnation int
	state       mezzo.TaskState
	level       Level
	ended       bool // master's view: terminal state recorded
	agentDone   bool // agent's view: no further updates
	start       time.Time
	dur         time.Duration
	end         Timer
	exec        *simExecutor
	// execRes is the executor's resources when this task brought a new
	// executor; they pass to the executor once it starts.
	execRes mezzo.Resources
}

// NewWorld builds a world over a cluster and its file system, driving a on
// eng. The allocator must be empty: the world adds the agents when started.
func NewWorld(eng *Engine, a *alloc.Allocator, c *Cluster, dfs *DFS, cfg WorldConfig, hooks Hooks) (*World, error) {
	if eng == nil || a == nil || c == nil || dfs == nil {
		return nil, errors.New("sim: NewWorld needs an engine, an allocator, a cluster and a DFS")
	}
	if err := c.CheckFailures(cfg.Failures); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if cfg.AllocationInterval < 0 {
		return nil, fmt.Errorf("sim: allocation interval %v is negative", cfg.AllocationInterval)
	}
	w := &World{
		eng: eng, alloc: a, cluster: c, dfs: dfs, cfg: cfg, hooks: hooks,
		fwByID:    map[mezzo.FrameworkID]*simFramework{},
		agentByID: map[mezzo.AgentID]*simAgent{},
		offers:    map[mezzo.OfferID]*offerRec{},
	}
	switch {
	case cfg.Latency == 0:
		w.latency = DefaultLatency
	case cfg.Latency > 0:
		w.latency = cfg.Latency
	}
	if w.cfg.AllocationInterval == 0 {
		w.cfg.AllocationInterval = DefaultAllocationInterval
	}
	if w.cfg.ExecutorWait <= 0 {
		w.cfg.ExecutorWait = DefaultExecutorWait
	}
	for i, ag := range c.Agents() {
		sa := &simAgent{a: ag, index: i, tasks: map[*simTask]struct{}{}, executors: map[execKey]*simExecutor{}}
		w.agents = append(w.agents, sa)
		w.agentByID[ag.ID] = sa
	}
	return w, nil
}

// Engine returns the engine the world runs on.
func (w *World) Engine() *Engine { return w.eng }

// Allocator returns the allocator the world drives.
func (w *World) Allocator() *alloc.Allocator { return w.alloc }

// Stats returns the counters so far.
func (w *World) Stats() Stats { return w.stats }

// Err is the first invariant violation found in check mode, or nil.
func (w *World) Err() error { return w.err }

// Latency is the one-way message delay in use.
func (w *World) Latency() time.Duration { return w.latency }

// Start adds every agent to the allocator, schedules the failures and the
// periodic allocation cycle. Call it once, before running the engine.
func (w *World) Start() error {
	if w.started {
		return errors.New("sim: world already started")
	}
	w.started = true
	for _, ag := range w.agents {
		if err := w.alloc.AddAgent(ag.a.ID, w.agentInfo(ag), nil); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		ag.up = true
	}
	for _, f := range w.cfg.Failures {
		ag := w.agentByID[f.Agent]
		w.eng.At(Epoch.Add(f.At), w.wrap(func() { w.agentDown(ag) }))
		if f.Back > 0 {
			w.eng.At(Epoch.Add(f.Back), w.wrap(func() { w.agentUp(ag) }))
		}
	}
	w.tick = w.eng.After(w.cfg.AllocationInterval, w.wrap(w.periodic))
	return nil
}

// Stop ends the periodic allocation cycle, so that the engine runs dry once
// the tasks and timers in flight are done.
func (w *World) Stop() { w.tick.Cancel() }

func (w *World) agentInfo(ag *simAgent) alloc.AgentInfo {
	return alloc.AgentInfo{Hostname: ag.a.Hostname, Attributes: ag.a.Attributes, Resources: ag.a.Resources}
}

// AddFramework registers a scheduler. The ID is info.ID, or
// "framework-N" when empty. Registered is delivered after one latency and
// the framework takes part in the next allocation.
func (w *World) AddFramework(info mezzo.FrameworkInfo, s mezzo.Scheduler) (mezzo.FrameworkID, error) {
	if s == nil {
		return "", errors.New("sim: nil scheduler")
	}
	id := info.ID
	if id == "" {
		id = mezzo.FrameworkID(fmt.Sprintf("framework-%d", len(w.frameworks)+1))
	}
	if _, ok := w.fwByID[id]; ok {
		return "", fmt.Errorf("sim: framework %s registered twice", id)
	}
	info.ID = id
	if err := w.alloc.AddFramework(id, info); err != nil {
		return "", fmt.Errorf("sim: %w", err)
	}
	fw := &simFramework{id: id, info: info, sched: s, tasks: map[mezzo.TaskID]*simTask{}}
	fw.drv = &driver{w: w, fw: fw}
	w.frameworks = append(w.frameworks, fw)
	w.fwByID[id] = fw
	w.toFramework(fw, w.latency, func() { s.Registered(fw.drv, id) })
	w.requestFull()
	return id, nil
}

// Frameworks lists the registered frameworks' IDs in registration order.
func (w *World) Frameworks() []mezzo.FrameworkID {
	out := make([]mezzo.FrameworkID, len(w.frameworks))
	for i, f := range w.frameworks {
		out[i] = f.id
	}
	return out
}

// RunningTasks is the number of tasks of fw the master knows as not ended.
func (w *World) RunningTasks(fw mezzo.FrameworkID) int {
	if f, ok := w.fwByID[fw]; ok {
		return len(f.tasks)
	}
	return 0
}

// --- events -----------------------------------------------------------------

// wrap makes fn a world event: in check mode the allocator's invariants are
// checked after it, and executor reports that arrived from goroutines are
// drained before it.
func (w *World) wrap(fn func()) func() {
	if !w.cfg.Check && len(w.cfg.Executors) == 0 {
		return fn // nothing to do around it: save a closure per event
	}
	return func() {
		if w.asyncMsg.Load() {
			w.drainAsync()
		}
		fn()
		if w.cfg.Check && w.err == nil {
			if err := w.alloc.Check(); err != nil {
				w.err = fmt.Errorf("sim: at %v: %w", w.eng.Elapsed(), err)
				w.eng.Stop()
			}
		}
	}
}

func (w *World) after(d time.Duration, fn func()) Timer { return w.eng.After(d, w.wrap(fn)) }

// toFramework delivers a callback to fw after d, unless fw has stopped by
// then.
func (w *World) toFramework(fw *simFramework, d time.Duration, fn func()) {
	w.after(d, func() {
		if !fw.stopped {
			fn()
		}
	})
}

// --- allocation ---------------------------------------------------------------

func (w *World) periodic() {
	w.tick = w.eng.After(w.cfg.AllocationInterval, w.wrap(w.periodic))
	w.pendingFull = true
	w.runAllocation()
	if w.hooks.Tick != nil {
		w.hooks.Tick()
	}
}

// requestAgent queues an incremental allocation of ag's resources at this
// instant; every request of one instant is served by one cycle.
func (w *World) requestAgent(ag *simAgent) {
	if !ag.pending {
		ag.pending = true
		w.pendingAgents = append(w.pendingAgents, ag)
	}
	w.queueAllocation()
}

func (w *World) requestFull() {
	w.pendingFull = true
	w.queueAllocation()
}

func (w *World) queueAllocation() {
	if !w.allocQueued && w.started {
		w.allocQueued = true
		w.after(0, w.runAllocation)
	}
}

func (w *World) runAllocation() {
	w.allocQueued = false
	now := w.eng.Now()
	var offers []mezzo.Offer
	if w.pendingFull {
		offers = w.alloc.Allocate(now)
	} else if len(w.pendingAgents) > 0 {
		ids := make([]mezzo.AgentID, 0, len(w.pendingAgents))
		for _, ag := range w.pendingAgents {
			if ag.up {
				ids = append(ids, ag.a.ID)
			}
		}
		offers = w.alloc.AllocateAgents(now, ids)
	} else {
		return
	}
	for _, ag := range w.pendingAgents {
		ag.pending = false
	}
	w.pendingAgents = w.pendingAgents[:0]
	w.pendingFull = false
	w.stats.Cycles++
	w.stats.Offers += len(offers)
	w.sendOffers(offers)
}

// sendOffers groups offers by framework, keeping the allocator's order, and
// delivers each group after one latency.
func (w *World) sendOffers(offers []mezzo.Offer) {
	if len(offers) == 0 {
		return
	}
	// A cycle offers to few frameworks: a slice scan beats a map.
	var order []*simFramework
	var groups [][]mezzo.OfferID
	// One slab for the cycle's records instead of one allocation each.
	recs := make([]offerRec, len(offers))
	for i, o := range offers {
		fw := w.fwByID[o.FrameworkID]
		recs[i] = offerRec{offer: o, fw: fw}
		w.offers[o.ID] = &recs[i]
		k := -1
		for i, f := range order {
			if f == fw {
				k = i
				break
			}
		}
		if k < 0 {
			k = len(order)
			order = append(order, fw)
			groups = append(groups, nil)
		}
		groups[k] = append(groups[k], o.ID)
	}
	for k, fw := range order {
		ids := groups[k]
		w.toFramework(fw, w.latency, func() {
			out := make([]mezzo.Offer, 0, len(ids))
			for _, id := range ids {
				if rec, ok := w.offers[id]; ok { // not rescinded on the way
					rec.delivered = true
					out = append(out, rec.offer)
				}
			}
			if len(out) > 0 {
				fw.sched.ResourceOffers(fw.drv, out)
			}
		})
	}
}

// rescinded tells frameworks about offers the master withdrew.
func (w *World) rescinded(offers []mezzo.Offer) {
	for _, o := range offers {
		rec, ok := w.offers[o.ID]
		if !ok {
			continue
		}
		delete(w.offers, o.ID)
		if rec.delivered {
			id := o.ID
			w.toFramework(rec.fw, w.latency, func() { rec.fw.sched.OfferRescinded(rec.fw.drv, id) })
		}
	}
}

// Rescind withdraws an outstanding offer as the master would (no filter);
// its framework gets OfferRescinded if the offer had reached it.
func (w *World) Rescind(id mezzo.OfferID) {
	w.rescinded(w.alloc.Rescind(id))
	if ag := w.agentOfOffer(id); ag != nil {
		w.requestAgent(ag)
	}
}

func (w *World) agentOfOffer(id mezzo.OfferID) *simAgent {
	if rec, ok := w.offers[id]; ok {
		return w.agentByID[rec.offer.AgentID]
	}
	return nil
}

// --- master: framework calls ------------------------------------------------

// launch is the master handling an accept: validate the offers, then each
// task in order against what is left of them, as a Mesos master does.
func (w *World) launch(fw *simFramework, ids []mezzo.OfferID, tasks []mezzo.TaskInfo, f mezzo.Filters) {
	now := w.eng.Now()
	w.stats.Submitted += len(tasks)
	var bad string
	var agentID mezzo.AgentID
	var valid []mezzo.OfferID
	var offered mezzo.Resources
	if len(ids) == 0 {
		bad = "no offers named"
	}
	for i, id := range ids {
		rec, ok := w.offers[id]
		switch {
		case !ok:
			bad = fmt.Sprintf("offer %s is unknown or no longer valid", id)
		case rec.fw != fw:
			bad = fmt.Sprintf("offer %s belongs to another framework", id)
		case slices.Contains(ids[:i], id):
			bad = fmt.Sprintf("offer %s is named twice", id)
		case agentID != "" && rec.offer.AgentID != agentID:
			bad = fmt.Sprintf("offers %s and %s are on different agents", ids[0], id)
			valid = append(valid, id)
		default:
			if agentID == "" {
				agentID = rec.offer.AgentID
			}
			valid = append(valid, id)
			offered = offered.Add(rec.offer.Resources)
		}
	}
	if bad != "" {
		// Mesos recovers the valid offers of a bad accept without a filter
		// and answers every task.
		if len(valid) > 0 {
			_ = w.alloc.Decline(now, fw.id, valid, mezzo.Filters{Refuse: -1})
			for _, id := range valid {
				if ag := w.agentOfOffer(id); ag != nil {
					delete(w.offers, id)
					w.requestAgent(ag)
				}
			}
		}
		for i := range tasks {
			w.reject(fw, &tasks[i], agentID, mezzo.ReasonInvalidOffers, bad)
		}
		return
	}
	ag := w.agentByID[agentID]
	remaining := offered
	var use mezzo.Resources
	accepted := make([]*simTask, 0, len(tasks))
	var newExec map[mezzo.ExecutorID]bool
	for i := range tasks {
		t := tasks[i]
		msg := w.validateTask(fw, &t, agentID, tasks[:i])
		need := t.Resources
		var execRes mezzo.Resources
		if msg == "" && t.Executor != nil {
			k := execKey{fw.id, t.Executor.ID}
			if _, running := ag.executors[k]; !running && !newExec[t.Executor.ID] {
				execRes = t.Executor.Resources
				need = need.Add(execRes)
			}
		}
		if msg == "" && !remaining.Contains(need) {
			msg = fmt.Sprintf("task %s needs %s but its offers have %s left", t.ID, need, remaining)
		}
		if msg != "" {
			w.reject(fw, &t, agentID, mezzo.ReasonTaskInvalid, msg)
			continue
		}
		if t.Executor != nil {
			if newExec == nil {
				newExec = map[mezzo.ExecutorID]bool{}
			}
			newExec[t.Executor.ID] = true
		}
		remaining = remaining.Sub(need)
		use = use.Add(need)
		t.AgentID = agentID
		w.taskSeq++
		st := &simTask{seq: w.taskSeq, fw: fw, info: t, agent: ag, incarnation: ag.incarnation, state: mezzo.TaskStaging, execRes: execRes}
		st.level = w.dfs.InputLocality(agentID, t.Input)
		accepted = append(accepted, st)
	}
	if err := w.alloc.Accept(now, fw.id, ids, use, f); err != nil {
		// Cannot happen: use was checked against the offers above.
		w.fail(fmt.Errorf("sim: accept of validated launch: %w", err))
		return
	}
	for _, id := range ids {
		delete(w.offers, id)
	}
	for _, st := range accepted {
		fw.tasks[st.info.ID] = st
		ag.tasks[st] = struct{}{}
		w.stats.Launched++
		if w.hooks.TaskLaunched != nil {
			w.hooks.TaskLaunched(fw.id, &st.info, agentID, st.level)
		}
		w.after(w.latency, func() { w.agentLaunch(st) })
	}
}

// validateTask checks t; earlier are the tasks before it in the same
// launch (a launch holds a few tasks: a scan beats a map).
func (w *World) validateTask(fw *simFramework, t *mezzo.TaskInfo, agent mezzo.AgentID, earlier []mezzo.TaskInfo) string {
	switch {
	case t.ID == "":
		return "task has an empty ID"
	case slices.ContainsFunc(earlier, func(e mezzo.TaskInfo) bool { return e.ID == t.ID }):
		return fmt.Sprintf("task ID %s is used twice in one launch", t.ID)
	case fw.tasks[t.ID] != nil:
		return fmt.Sprintf("task ID %s is already in use", t.ID)
	case t.AgentID != "" && t.AgentID != agent:
		return fmt.Sprintf("task %s names agent %s but its offers are on %s", t.ID, t.AgentID, agent)
	case t.Command != nil && t.Executor != nil:
		return fmt.Sprintf("task %s sets both a command and an executor", t.ID)
	case t.Executor != nil && t.Executor.ID == "":
		return fmt.Sprintf("task %s names an executor with an empty ID", t.ID)
	case t.Resources.IsEmpty() && (t.Executor == nil || t.Executor.Resources.IsEmpty()):
		return fmt.Sprintf("task %s uses no resources", t.ID)
	}
	return ""
}

// reject answers a task the master refused with TASK_ERROR.
func (w *World) reject(fw *simFramework, t *mezzo.TaskInfo, agent mezzo.AgentID, reason mezzo.Reason, msg string) {
	w.stats.Rejected++
	st := mezzo.TaskStatus{TaskID: t.ID, AgentID: agent, State: mezzo.TaskError, Reason: reason, Message: msg, Time: w.eng.Now()}
	w.toFramework(fw, w.latency, func() { fw.sched.StatusUpdate(fw.drv, st) })
}

func (w *World) decline(fw *simFramework, ids []mezzo.OfferID, f mezzo.Filters) {
	for _, id := range ids {
		if !w.declineOne(fw, id, f) {
			return
		}
	}
}

// declineOne declines one offer; false when the world failed.
func (w *World) declineOne(fw *simFramework, id mezzo.OfferID, f mezzo.Filters) bool {
	// Mesos ignores declines of offers that are gone; so does the world.
	rec, ok := w.offers[id]
	if !ok || rec.fw != fw {
		return true
	}
	one := [1]mezzo.OfferID{id}
	if err := w.alloc.Decline(w.eng.Now(), fw.id, one[:], f); err != nil {
		w.fail(fmt.Errorf("sim: decline: %w", err))
		return false
	}
	delete(w.offers, id)
	return true
}

func (w *World) revive(fw *simFramework) {
	if fw.removed {
		return
	}
	if err := w.alloc.Revive(fw.id); err != nil {
		w.fail(err)
		return
	}
	w.requestFull()
}

func (w *World) suppress(fw *simFramework) {
	if fw.removed {
		return
	}
	if err := w.alloc.Suppress(fw.id); err != nil {
		w.fail(err)
	}
}

func (w *World) kill(fw *simFramework, id mezzo.TaskID) {
	t, ok := fw.tasks[id]
	if !ok {
		st := mezzo.TaskStatus{TaskID: id, State: mezzo.TaskLost, Reason: mezzo.ReasonTaskUnknown,
			Message: "kill of a task the master does not know", Time: w.eng.Now()}
		w.toFramework(fw, w.latency, func() { fw.sched.StatusUpdate(fw.drv, st) })
		return
	}
	w.after(w.latency, func() { w.agentKill(t) })
}

func (w *World) reconcile(fw *simFramework, list []mezzo.TaskStatus) {
	now := w.eng.Now()
	var out []mezzo.TaskStatus
	if len(list) == 0 {
		ts := make([]*simTask, 0, len(fw.tasks))
		for _, t := range fw.tasks {
			ts = append(ts, t)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].seq < ts[j].seq })
		for _, t := range ts {
			out = append(out, mezzo.TaskStatus{TaskID: t.info.ID, AgentID: t.agent.a.ID, State: t.state, Reason: mezzo.ReasonReconciliation, Time: now})
		}
	} else {
		for _, q := range list {
			if t, ok := fw.tasks[q.TaskID]; ok {
				out = append(out, mezzo.TaskStatus{TaskID: t.info.ID, AgentID: t.agent.a.ID, State: t.state, Reason: mezzo.ReasonReconciliation, Time: now})
				continue
			}
			out = append(out, mezzo.TaskStatus{TaskID: q.TaskID, AgentID: q.AgentID, State: mezzo.TaskLost,
				Reason: mezzo.ReasonReconciliation, Message: "task unknown to the master", Time: now})
		}
	}
	for _, st := range out {
		w.toFramework(fw, w.latency, func() { fw.sched.StatusUpdate(fw.drv, st) })
	}
}

func (w *World) frameworkMessage(fw *simFramework, exec mezzo.ExecutorID, agent mezzo.AgentID, data []byte) {
	ag, ok := w.agentByID[agent]
	if !ok {
		return
	}
	w.after(w.latency, func() {
		if e, ok := ag.executors[execKey{fw.id, exec}]; ok && !e.dead {
			e.frameworkMessage(data)
		}
	})
}

// stopFramework unregisters fw. Without failover its tasks are killed and
// its resources released; with failover its tasks keep running (their
// updates go nowhere) and it is simply offered nothing more.
func (w *World) stopFramework(fw *simFramework, failover bool) {
	if fw.removed {
		return
	}
	fw.stopped = true
	if failover {
		withdrawn, err := w.alloc.DeactivateFramework(fw.id)
		if err != nil {
			w.fail(err)
		}
		w.rescinded(withdrawn)
		return
	}
	ts := fw.sortedTasks()
	for _, t := range ts {
		w.endTask(t, mezzo.TaskKilled, false)
		if t.end.Pending() {
			t.end.Cancel()
		}
		t.agentDone = true
	}
	for _, ag := range w.agents {
		for _, e := range ag.sortedExecutors() {
			if e.fw == fw {
				e.shutdown()
			}
		}
	}
	fw.removed = true
	withdrawn, err := w.alloc.RemoveFramework(fw.id)
	if err != nil {
		w.fail(err)
	}
	w.rescinded(withdrawn)
	w.requestFull()
}

func (fw *simFramework) sortedTasks() []*simTask {
	ts := make([]*simTask, 0, len(fw.tasks))
	for _, t := range fw.tasks {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].seq < ts[j].seq })
	return ts
}

func (ag *simAgent) sortedExecutors() []*simExecutor {
	es := make([]*simExecutor, 0, len(ag.executors))
	for _, e := range ag.executors {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].seq < es[j].seq })
	return es
}

func (w *World) fail(err error) {
	if w.err == nil {
		w.err = err
	}
	w.eng.Stop()
}

// --- master: task ends ----------------------------------------------------------

// endTask records a task's terminal state at the master: its resources go
// back to the allocator (recover=true; false when the allocator already
// released them with its agent or framework) and its agent is queued for an
// incremental allocation.
func (w *World) endTask(t *simTask, state mezzo.TaskState, recover bool) {
	if t.ended {
		return
	}
	t.ended = true
	t.state = state
	delete(t.fw.tasks, t.info.ID)
	delete(t.agent.tasks, t)
	w.stats.Ended++
	if recover && t.agent.up && t.agent.incarnation == t.incarnation && !t.fw.removed {
		if err := w.alloc.Recover(t.fw.id, t.agent.a.ID, t.info.Resources.Add(t.execRes)); err != nil {
			w.fail(fmt.Errorf("sim: task %s: %w", t.info.ID, err))
			return
		}
		w.requestAgent(t.agent)
	}
	if w.hooks.TaskEnded != nil {
		w.hooks.TaskEnded(t.fw.id, &t.info, t.agent.a.ID, t.level, state)
	}
}

// statusFromAgent carries an update from t's agent to the master and on to
// the framework. The master acts on terminal states one latency after the
// agent sent them; non-terminal ones are only forwarded.
func (w *World) statusFromAgent(t *simTask, st mezzo.TaskStatus, delay time.Duration) {
	fw := t.fw
	if !st.State.Terminal() {
		w.after(delay+2*w.latency, func() {
			if t.ended {
				return
			}
			t.state = st.State
			if !fw.stopped {
				fw.sched.StatusUpdate(fw.drv, st)
			}
		})
		return
	}
	w.after(delay+w.latency, func() {
		if t.ended { // lost with its agent, or its framework left
			return
		}
		w.endTask(t, st.State, true)
		w.toFramework(fw, w.latency, func() { fw.sched.StatusUpdate(fw.drv, st) })
	})
}

// --- agents ---------------------------------------------------------------------

func (w *World) agentLaunch(t *simTask) {
	if t.ended || t.agentDone || t.agent.incarnation != t.incarnation {
		return
	}
	now := w.eng.Now()
	t.start = now
	t.dur = w.dfs.TaskDuration(t.info.Duration, t.agent.a.ID, t.info.Input)
	if t.info.Executor != nil {
		w.launchOnExecutor(t)
		return
	}
	w.statusFromAgent(t, mezzo.TaskStatus{TaskID: t.info.ID, AgentID: t.agent.a.ID, State: mezzo.TaskRunning, Time: now}, 0)
	t.end = w.after(t.dur, func() {
		t.agentDone = true
		w.statusFromAgent(t, mezzo.TaskStatus{TaskID: t.info.ID, AgentID: t.agent.a.ID, State: mezzo.TaskFinished, Time: w.eng.Now()}, 0)
	})
}

func (w *World) agentKill(t *simTask) {
	if t.ended || t.agentDone {
		return
	}
	if t.exec != nil {
		t.exec.killTask(t)
		return
	}
	if t.end.Pending() {
		t.end.Cancel()
	}
	t.agentDone = true
	w.statusFromAgent(t, mezzo.TaskStatus{TaskID: t.info.ID, AgentID: t.agent.a.ID, State: mezzo.TaskKilled,
		Reason: mezzo.ReasonKilledByScheduler, Time: w.eng.Now()}, 0)
}

func (w *World) agentDown(ag *simAgent) {
	if !ag.up {
		return
	}
	ag.up = false
	ag.incarnation++
	w.dfs.SetDown(ag.a.ID, true)
	withdrawn, err := w.alloc.RemoveAgent(ag.a.ID)
	if err != nil {
		w.fail(err)
		return
	}
	w.rescinded(withdrawn)
	for _, e := range ag.sortedExecutors() {
		e.terminate(false)
	}
	ts := make([]*simTask, 0, len(ag.tasks))
	for t := range ag.tasks {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].seq < ts[j].seq })
	now := w.eng.Now()
	for _, t := range ts {
		if t.end.Pending() {
			t.end.Cancel()
		}
		t.agentDone = true
		w.endTask(t, mezzo.TaskLost, false)
		fw := t.fw
		st := mezzo.TaskStatus{TaskID: t.info.ID, AgentID: ag.a.ID, State: mezzo.TaskLost, Reason: mezzo.ReasonAgentLost,
			Message: "agent " + string(ag.a.ID) + " was lost", Time: now}
		w.toFramework(fw, w.latency, func() { fw.sched.StatusUpdate(fw.drv, st) })
	}
	for _, fw := range w.frameworks {
		w.toFramework(fw, w.latency, func() { fw.sched.AgentLost(fw.drv, ag.a.ID) })
	}
}

func (w *World) agentUp(ag *simAgent) {
	if ag.up {
		return
	}
	if err := w.alloc.AddAgent(ag.a.ID, w.agentInfo(ag), nil); err != nil {
		w.fail(err)
		return
	}
	ag.up = true
	w.dfs.SetDown(ag.a.ID, false)
	w.requestAgent(ag)
}
