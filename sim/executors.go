package sim

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Custom executors (a task whose TaskInfo.Executor names a Kind) run
// in-process, built from the World's ExecutorRegistry. The simulator calls
// them on the engine's goroutine and must stay deterministic, so the rule is:
//
// A simulated executor reports synchronously, from inside the callback that
// caused the report (LaunchTask, KillTask, FrameworkMessage), or from a
// goroutine it starts there; in the second case the simulator blocks, in
// wall time, after LaunchTask and KillTask until that task has reported a
// terminal state (at most WorldConfig.ExecutorWait). Reports that arrive
// later than that are still delivered, at the next event, but the run is no
// longer deterministic; Stats.AsyncExecutorUpdates counts them.
//
// Reports travel like any agent's: a non-terminal update reaches the
// framework two latencies after it was sent. A terminal update of a task
// with a modelled Duration is held until that duration (stretched by the
// cluster model for non-local input) has passed since the task started, so
// an executor's real computing time never shows in virtual time.
//
// An executor holds its ExecutorInfo.Resources from its first task until it
// calls Stop; its tasks still running then fail with
// REASON_EXECUTOR_TERMINATED.
type simExecutor struct {
	seq         uint64
	w           *World
	fw          *simFramework
	agent       *simAgent
	incarnation int
	info        mezzo.ExecutorInfo
	exec        mezzo.Executor
	drv         *execDriver
	tasks       map[mezzo.TaskID]*simTask
	resources   mezzo.Resources
	dead        bool
}

type execMsgKind int8

const (
	msgStatus execMsgKind = iota
	msgFramework
	msgStop
)

type execMsg struct {
	kind   execMsgKind
	status mezzo.TaskStatus
	data   []byte
	async  bool
}

// execDriver is the mezzo.ExecutorDriver of one simulated executor. It is
// safe for concurrent use: reports are queued under a lock and acted on by
// the engine's goroutine.
type execDriver struct {
	w      *World
	mu     sync.Mutex
	inbox  []execMsg
	inCall bool
	closed bool
	notify chan struct{}
}

var _ mezzo.ExecutorDriver = (*execDriver)(nil)

func (d *execDriver) put(m execMsg) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errStopped
	}
	if !d.inCall {
		m.async = true
		d.w.asyncMsg.Store(true)
	}
	d.inbox = append(d.inbox, m)
	d.mu.Unlock()
	select {
	case d.notify <- struct{}{}:
	default:
	}
	return nil
}

// SendStatusUpdate implements mezzo.ExecutorDriver.
func (d *execDriver) SendStatusUpdate(st mezzo.TaskStatus) error {
	st.Data = append([]byte(nil), st.Data...)
	return d.put(execMsg{kind: msgStatus, status: st})
}

// SendFrameworkMessage implements mezzo.ExecutorDriver.
func (d *execDriver) SendFrameworkMessage(data []byte) error {
	return d.put(execMsg{kind: msgFramework, data: append([]byte(nil), data...)})
}

// Stop implements mezzo.ExecutorDriver.
func (d *execDriver) Stop() error { return d.put(execMsg{kind: msgStop}) }

func (d *execDriver) take() []execMsg {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.inbox
	d.inbox = nil
	return out
}

func (d *execDriver) setInCall(v bool) {
	d.mu.Lock()
	d.inCall = v
	d.mu.Unlock()
}

func (w *World) knownKinds() string {
	kinds := make([]string, 0, len(w.cfg.Executors))
	for k := range w.cfg.Executors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	if len(kinds) == 0 {
		return "none registered"
	}
	return strings.Join(kinds, ", ")
}

// launchOnExecutor starts t on its executor, starting the executor first
// when it is not running on the agent.
func (w *World) launchOnExecutor(t *simTask) {
	ag := t.agent
	k := execKey{t.fw.id, t.info.Executor.ID}
	e := ag.executors[k]
	if e == nil {
		ctor := w.cfg.Executors[t.info.Executor.Kind]
		if ctor == nil {
			t.agentDone = true
			w.statusFromAgent(t, mezzo.TaskStatus{TaskID: t.info.ID, AgentID: ag.a.ID, ExecutorID: k.id,
				State: mezzo.TaskFailed, Reason: mezzo.ReasonContainerLaunchFail,
				Message: fmt.Sprintf("unknown executor kind %q (known: %s)", t.info.Executor.Kind, w.knownKinds()),
				Time:    w.eng.Now()}, 0)
			return
		}
		w.execSeq++
		e = &simExecutor{
			seq: w.execSeq, w: w, fw: t.fw, agent: ag, incarnation: ag.incarnation,
			info: *t.info.Executor, tasks: map[mezzo.TaskID]*simTask{},
			drv: &execDriver{w: w, notify: make(chan struct{}, 1)},
		}
		// The task that brought the executor hands its resources over.
		e.resources, t.execRes = t.execRes, mezzo.Resources{}
		e.exec = ctor()
		ag.executors[k] = e
		w.execs = append(w.execs, e)
		e.call(func() { e.exec.Registered(e.drv, e.info, e.fw.id, ag.a.ID) })
		if e.dead {
			return
		}
	}
	t.exec = e
	e.tasks[t.info.ID] = t
	info := t.info
	e.call(func() { e.exec.LaunchTask(e.drv, info) })
	e.wait(t)
}

func (e *simExecutor) killTask(t *simTask) {
	id := t.info.ID
	e.call(func() { e.exec.KillTask(e.drv, id) })
	e.wait(t)
}

func (e *simExecutor) frameworkMessage(data []byte) {
	e.call(func() { e.exec.FrameworkMessage(e.drv, data) })
}

func (e *simExecutor) shutdown() {
	if e.dead {
		return
	}
	e.call(func() { e.exec.Shutdown(e.drv) })
	e.terminate(false)
}

// call runs one executor callback and acts on what it reported.
func (e *simExecutor) call(fn func()) {
	if e.dead {
		return
	}
	e.drv.setInCall(true)
	fn()
	e.drain()
	e.drv.setInCall(false)
	e.drain()
}

// wait blocks until t has reported a terminal state, the executor is gone,
// or ExecutorWait has passed.
func (e *simExecutor) wait(t *simTask) {
	if t.agentDone || e.dead {
		return
	}
	e.drv.setInCall(true)
	defer e.drv.setInCall(false)
	timer := time.NewTimer(e.w.cfg.ExecutorWait)
	defer timer.Stop()
	for !t.agentDone && !e.dead {
		select {
		case <-e.drv.notify:
			e.drain()
		case <-timer.C:
			return
		}
	}
}

func (e *simExecutor) drain() {
	for _, m := range e.drv.take() {
		if e.dead {
			return
		}
		if m.async {
			e.w.stats.AsyncExecutorUpdates++
		}
		switch m.kind {
		case msgStatus:
			e.status(m.status)
		case msgFramework:
			fw, id, agent, data := e.fw, e.info.ID, e.agent.a.ID, m.data
			e.w.toFramework(fw, 2*e.w.latency, func() { fw.sched.FrameworkMessage(fw.drv, id, agent, data) })
		case msgStop:
			e.terminate(true)
		}
	}
}

func (e *simExecutor) status(st mezzo.TaskStatus) {
	t := e.tasks[st.TaskID]
	if t == nil || t.agentDone {
		return // unknown, or already ended: an agent drops such updates
	}
	now := e.w.eng.Now()
	st.AgentID, st.ExecutorID, st.Time = e.agent.a.ID, e.info.ID, now
	var delay time.Duration
	if st.State.Terminal() {
		t.agentDone = true
		delete(e.tasks, st.TaskID)
		if end := t.start.Add(t.dur); end.After(now) {
			delay = end.Sub(now)
		}
	}
	e.w.statusFromAgent(t, st, delay)
}

// terminate ends the executor: its unfinished tasks fail and, when report
// is set (the executor stopped on its own), its resources go back to the
// allocator.
func (e *simExecutor) terminate(report bool) {
	if e.dead {
		return
	}
	e.dead = true
	e.drv.mu.Lock()
	e.drv.closed = true
	e.drv.mu.Unlock()
	delete(e.agent.executors, execKey{e.fw.id, e.info.ID})
	for i, x := range e.w.execs {
		if x == e {
			e.w.execs = append(e.w.execs[:i], e.w.execs[i+1:]...)
			break
		}
	}
	if !report {
		return
	}
	ts := make([]*simTask, 0, len(e.tasks))
	for _, t := range e.tasks {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].seq < ts[j].seq })
	now := e.w.eng.Now()
	for _, t := range ts {
		t.agentDone = true
		e.w.statusFromAgent(t, mezzo.TaskStatus{TaskID: t.info.ID, AgentID: e.agent.a.ID, ExecutorID: e.info.ID,
			State: mezzo.TaskFailed, Reason: mezzo.ReasonExecutorTerminated, Message: "executor stopped", Time: now}, 0)
	}
	if res := e.resources; !res.IsEmpty() {
		w, fw, ag, inc := e.w, e.fw, e.agent, e.incarnation
		w.after(w.latency, func() {
			if ag.up && ag.incarnation == inc && !fw.removed {
				if err := w.alloc.Recover(fw.id, ag.a.ID, res); err != nil {
					w.fail(fmt.Errorf("sim: executor %s: %w", e.info.ID, err))
					return
				}
				w.requestAgent(ag)
			}
		})
	}
}

// drainAsync acts on reports executors made from their goroutines outside
// any callback.
func (w *World) drainAsync() {
	w.asyncMsg.Store(false)
	execs := append([]*simExecutor(nil), w.execs...)
	for _, e := range execs {
		e.drain()
	}
}
