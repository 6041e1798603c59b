package master

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Snapshot returns a consistent picture of the master, taken on its loop.
func (m *Master) Snapshot(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	err := m.call(ctx, func() error { s = m.snapshot(); return nil })
	return s, err
}

var errReplaced = status.Error(codes.Aborted, "replaced by a newer subscription")

// subscribeFramework registers a new framework or reconnects a known one
// onto a new stream; maySubscribe has let the caller in.
func (m *Master) subscribeFramework(info mezzo.FrameworkInfo, out *outbox[*api.SchedulerEvent]) (*framework, error) {
	fw := m.frameworks[info.ID]
	if fw == nil {
		if info.ID == "" {
			info.ID = m.newFrameworkID()
		}
		if err := m.alloc.AddFramework(info.ID, info); err != nil {
			return nil, status.Errorf(codes.Internal, "register framework: %v", err)
		}
		fw = &framework{id: info.ID, info: info, tasks: map[mezzo.TaskID]*task{}}
		fw.stats.TasksByState = map[string]int{}
		m.frameworks[fw.id] = fw
		m.countFramework(fw)
		m.log.Info("framework registered", "framework", fw.id, "name", api.Clip(info.Name), "role", info.RoleOrDefault(), "principal", info.Principal)
	} else {
		if fw.out != nil {
			fw.out.close(errReplaced)
		} else if err := m.alloc.ActivateFramework(fw.id); err != nil {
			return nil, status.Errorf(codes.Internal, "reactivate framework: %v", err)
		}
		// Taken back by its scheduler, a framework rebuilt from an
		// agent's report is the principal's doing from now on.
		m.countFramework(fw)
		m.log.Info("framework re-subscribed", "framework", fw.id, "name", api.Clip(fw.info.Name))
	}
	fw.out = out
	id, limit := fw.id, m.cfg.MaxSchedulerEvents
	out.bound(limit, func() {
		m.log.Warn("scheduler too slow: its event queue is full; disconnecting it", "framework", id, "limit", limit)
	})
	fw.disconnectedAt = time.Time{}
	fw.streamID = m.nextID("s")
	out.push(&api.SchedulerEvent{Event: &api.SchedulerEvent_Subscribed_{Subscribed: &api.SchedulerEvent_Subscribed{
		FrameworkId:            string(fw.id),
		StreamId:               fw.streamID,
		HeartbeatIntervalNanos: int64(m.cfg.HeartbeatInterval),
		MasterId:               m.cfg.MasterID,
		MasterEpoch:            m.ha.epoch,
	}}})
	m.allDirty = true
	return fw, nil
}

// newFrameworkID hands out a framework ID no framework here has or had:
// an agent may have brought back a framework of an earlier master that
// shared this one's ID prefix.
func (m *Master) newFrameworkID() mezzo.FrameworkID {
	for {
		id := mezzo.FrameworkID(m.nextID("F"))
		if m.frameworks[id] == nil && m.removed[id] == nil {
			return id
		}
	}
}

// frameworkGone handles the end of a framework's stream.
func (m *Master) frameworkGone(id mezzo.FrameworkID, streamID string) {
	fw := m.frameworks[id]
	if fw == nil || fw.streamID != streamID || fw.out == nil {
		return
	}
	fw.out.close(nil)
	fw.out = nil
	fw.disconnectedAt = time.Now()
	withdrawn, _ := m.alloc.DeactivateFramework(id)
	for _, o := range withdrawn {
		m.markDirty(o.AgentID)
	}
	m.log.Info("framework disconnected", "framework", id, "failover_timeout", fw.failoverTimeout(m.cfg.FailoverTimeout, m.cfg.MaxFailoverTimeout))
}

// expireFrameworks removes frameworks disconnected past their failover
// timeout.
func (m *Master) expireFrameworks(now time.Time) {
	for _, fw := range m.sortedFrameworks() {
		if fw.out == nil && !fw.disconnectedAt.IsZero() && now.Sub(fw.disconnectedAt) >= fw.failoverTimeout(m.cfg.FailoverTimeout, m.cfg.MaxFailoverTimeout) {
			m.removeFramework(fw, "failover timeout elapsed")
		}
	}
}

// removeFramework kills a framework's tasks, withdraws its offers and
// forgets it (its stats are kept).
func (m *Master) removeFramework(fw *framework, why string) {
	agents := map[mezzo.AgentID]struct{}{}
	for _, t := range fw.tasks {
		if !t.state.Terminal() {
			agents[t.agent] = struct{}{}
			m.endTask(fw, t, mezzo.TaskStatus{TaskID: t.info.ID, AgentID: t.agent, State: mezzo.TaskKilled, Reason: mezzo.ReasonFrameworkRemoved, Message: why}, false)
		}
	}
	for _, ag := range m.agents {
		for k := range ag.executors {
			if k.fw == fw.id {
				delete(ag.executors, k)
				agents[ag.id] = struct{}{}
			}
		}
	}
	ids := make([]mezzo.AgentID, 0, len(agents))
	for id := range agents {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if ag := m.agents[id]; ag != nil {
			ag.send(&api.AgentEvent{Event: &api.AgentEvent_ShutdownFramework_{ShutdownFramework: &api.AgentEvent_ShutdownFramework{FrameworkId: string(fw.id)}}})
		}
		m.markDirty(id)
	}
	// RemoveFramework releases everything still charged (tasks ended above
	// were already recovered; executors are released here).
	if _, err := m.alloc.RemoveFramework(fw.id); err != nil {
		m.log.Error("remove framework from allocator", "framework", fw.id, "err", err)
	}
	m.allDirty = true
	if fw.out != nil {
		fw.out.close(nil)
		fw.out = nil
	}
	delete(m.frameworks, fw.id)
	m.uncountFramework(fw)
	m.rememberRemoved(fw)
	m.ha.reg.delFramework(fw.id)
	m.log.Info("framework removed", "framework", fw.id, "why", why)
}

// statusEvent wraps a status update for a scheduler.
func statusEvent(s mezzo.TaskStatus) *api.SchedulerEvent {
	return &api.SchedulerEvent{Event: &api.SchedulerEvent_Update_{Update: &api.SchedulerEvent_Update{Status: api.StatusToProto(s)}}}
}

// refuse reports a task the master would not launch.
func (m *Master) refuse(fw *framework, id mezzo.TaskID, agent mezzo.AgentID, state mezzo.TaskState, reason mezzo.Reason, msg string) {
	fw.stats.TaskErrors++
	m.log.Warn("task refused", "framework", fw.id, "task", api.Clip(string(id)), "agent", agent, "state", state, "why", api.Clip(msg))
	fw.send(statusEvent(mezzo.TaskStatus{TaskID: id, AgentID: agent, State: state, Reason: reason, Message: msg, Time: time.Now()}))
}

// accept validates an Accept call and launches what is valid. Problems
// with the call as a whole (offers) drop every task; problems with one task
// fail that task only. Offered resources no launched task uses always go
// back to the allocator.
func (m *Master) accept(fw *framework, req *api.AcceptRequest) {
	now := time.Now()
	filters := api.FiltersFromProto(req.Filters)
	var ptasks []*api.TaskInfo
	for _, op := range req.Operations {
		ptasks = append(ptasks, op.GetLaunch().GetTasks()...)
	}
	taskID := func(p *api.TaskInfo) mezzo.TaskID { return mezzo.TaskID(p.GetTaskId()) }

	// The offers: known, ours, on one agent, each once.
	ids := make([]mezzo.OfferID, 0, len(req.OfferIds))
	var ours []mezzo.OfferID // valid offers, to give back if the call fails
	var agentID mezzo.AgentID
	var offered mezzo.Resources
	var problem string
	seen := map[mezzo.OfferID]bool{}
	for _, s := range req.OfferIds {
		id := mezzo.OfferID(s)
		ids = append(ids, id)
		o, ok := m.alloc.Offer(id)
		switch {
		case seen[id]:
			problem = fmt.Sprintf("offer %s is named twice", id)
			continue
		case !ok:
			problem = fmt.Sprintf("offer %s is not outstanding (unknown, rescinded, or already used)", id)
			continue
		case o.FrameworkID != fw.id:
			problem = fmt.Sprintf("offer %s belongs to another framework", id)
			continue
		}
		seen[id] = true
		ours = append(ours, id)
		if agentID == "" {
			agentID = o.AgentID
		} else if o.AgentID != agentID {
			problem = fmt.Sprintf("offers are on different agents (%s and %s); one accept takes offers of one agent", agentID, o.AgentID)
		}
		offered = offered.Add(o.Resources)
	}
	if len(ids) == 0 {
		problem = "the accept names no offers"
	}
	problem = api.Clip(problem) // it may quote an offer ID of any length
	ag := m.agents[agentID]
	if problem == "" && (ag == nil || ag.out == nil) {
		problem = fmt.Sprintf("agent %s is not connected", agentID)
	}
	if problem != "" {
		m.giveBack(fw, ours)
		for _, p := range ptasks {
			m.refuse(fw, taskID(p), agentID, mezzo.TaskDropped, mezzo.ReasonInvalidOffers, problem)
		}
		if len(ptasks) == 0 {
			m.log.Warn("invalid accept", "framework", fw.id, "why", problem)
		}
		return
	}

	// The tasks, each checked on its own and against what is left.
	remaining := offered
	var use mezzo.Resources
	var launch []*task
	inCall := map[mezzo.TaskID]bool{}
	newExecs := map[execKey]mezzo.Resources{}
	// The framework as the agent's LaunchTasks event carries it, built
	// once: measured here, sent below.
	fwProto := api.FrameworkToProto(fw.info)
	launchBytes := proto.Size(fwProto)
	for _, p := range ptasks {
		id := taskID(p)
		t, err := api.TaskFromProto(p)
		need := t.Resources
		var exKey execKey
		msg := ""
		size, verr := api.ValidateTaskInfo(p)
		switch {
		case verr != nil:
			msg = verr.Error()
		case err != nil:
			msg = fmt.Sprintf("task %q is malformed: %v", id, err)
		case id == "":
			msg = "a task has no ID"
		case inCall[id]:
			msg = fmt.Sprintf("task ID %q appears twice in one accept", id)
		case fw.tasks[id] != nil && !fw.tasks[id].state.Terminal():
			msg = fmt.Sprintf("task ID %q is already in use by a live task of this framework", id)
		case t.AgentID != "" && t.AgentID != agentID:
			msg = fmt.Sprintf("task %q names agent %s but the offers are on agent %s", id, t.AgentID, agentID)
		case t.Command != nil && t.Executor != nil:
			msg = fmt.Sprintf("task %q sets both a command and an executor", id)
		case t.Command != nil && t.Command.Value == "":
			msg = fmt.Sprintf("task %q has an empty command", id)
		case t.Executor != nil && t.Executor.ID == "":
			msg = fmt.Sprintf("task %q: its executor has no ID", id)
		case t.Executor != nil && t.Executor.Kind == "" && t.Executor.Command == nil:
			msg = fmt.Sprintf("task %q: executor %s names neither a kind nor a command", id, t.Executor.ID)
		case t.Resources.IsEmpty():
			msg = fmt.Sprintf("task %q asks for no resources", id)
		}
		if msg == "" {
			msg = m.authorizeTaskUser(fw, &t)
		}
		if msg == "" && t.Executor != nil {
			exKey = execKey{fw: fw.id, id: t.Executor.ID}
			_, running := ag.executors[exKey]
			_, launching := newExecs[exKey]
			if !running && !launching {
				need = need.Add(t.Executor.Resources)
			}
		}
		if msg == "" && !remaining.Contains(need) {
			msg = fmt.Sprintf("task %q needs %s but the offers have only %s left (of %s offered)", id, need, remaining, offered)
		}
		// The agent gets the accept's tasks in one event: past
		// api.MaxLaunchBytes the rest waits for another accept. The task
		// as sent has the agent ID and its user added (12 bytes cover
		// their tags and lengths, and the task's own in the event).
		if n := size + len(agentID) + len(taskUser(fw.info, t)) + 12; msg == "" && launchBytes+n > api.MaxLaunchBytes {
			msg = fmt.Sprintf("task %q: the tasks of one accept may take %d bytes in all (this one would make %d); launch it in another accept", id, api.MaxLaunchBytes, launchBytes+n)
		} else if msg == "" {
			launchBytes += n
		}
		if msg != "" {
			m.refuse(fw, id, agentID, mezzo.TaskError, mezzo.ReasonTaskInvalid, msg)
			continue
		}
		inCall[id] = true
		remaining = remaining.Sub(need)
		use = use.Add(need)
		if t.Executor != nil {
			if _, running := ag.executors[exKey]; !running {
				if _, launching := newExecs[exKey]; !launching {
					newExecs[exKey] = t.Executor.Resources
				}
			}
		}
		t.AgentID = agentID
		nt := &task{fw: fw.id, agent: agentID, info: t, state: mezzo.TaskStaging, seen: map[string]struct{}{}}
		if t.Executor != nil {
			nt.executor = t.Executor.ID
		}
		nt.latest = mezzo.TaskStatus{TaskID: id, AgentID: agentID, ExecutorID: nt.executor, State: mezzo.TaskStaging, Time: now}
		launch = append(launch, nt)
	}
	if err := m.alloc.Accept(now, fw.id, ids, use, filters); err != nil {
		// Validation above mirrors the allocator's, so this is a bug;
		// still, nothing may be lost: give the offers back and drop.
		m.log.Error("allocator refused a validated accept", "framework", fw.id, "agent", agentID, "err", err)
		m.giveBack(fw, ours)
		for _, t := range launch {
			m.refuse(fw, t.info.ID, agentID, mezzo.TaskDropped, mezzo.ReasonInvalidOffers, "the allocator refused the accept: "+err.Error())
		}
		return
	}
	m.markDirty(agentID)
	m.obs.accepted(len(ids))
	if len(launch) == 0 {
		return
	}
	for k, r := range newExecs {
		ag.executors[k] = r
	}
	pts := make([]*api.TaskInfo, 0, len(launch))
	names := make([]string, 0, len(launch))
	for _, t := range launch {
		fw.tasks[t.info.ID] = t
		ag.tasks[t] = struct{}{}
		fw.stats.TasksLaunched++
		pts = append(pts, api.TaskToProto(t.info))
		names = append(names, string(t.info.ID))
	}
	m.obs.launched(len(launch))
	ag.send(&api.AgentEvent{Event: &api.AgentEvent_LaunchTasks_{LaunchTasks: &api.AgentEvent_LaunchTasks{
		Framework: fwProto, Tasks: pts, MasterEpoch: m.ha.epoch,
	}}})
	m.log.Info("launching tasks", "framework", fw.id, "agent", agentID, "tasks", api.Clip(strings.Join(names, ",")), "resources", use.String())
}

// giveBack returns offers without filtering their agents: the framework
// did not decline them, its call was invalid.
func (m *Master) giveBack(fw *framework, ids []mezzo.OfferID) {
	if len(ids) == 0 {
		return
	}
	for _, id := range ids {
		if o, ok := m.alloc.Offer(id); ok {
			m.markDirty(o.AgentID)
		}
	}
	if err := m.alloc.Decline(time.Now(), fw.id, ids, mezzo.Filters{Refuse: -1}); err != nil {
		m.log.Error("give back offers", "framework", fw.id, "err", err)
	}
}

func (m *Master) decline(fw *framework, req *api.DeclineRequest) error {
	ids := make([]mezzo.OfferID, 0, len(req.OfferIds))
	for _, s := range req.OfferIds {
		ids = append(ids, mezzo.OfferID(s))
		if o, ok := m.alloc.Offer(mezzo.OfferID(s)); ok {
			m.markDirty(o.AgentID)
		}
	}
	if err := m.alloc.Decline(time.Now(), fw.id, ids, api.FiltersFromProto(req.Filters)); err != nil {
		return status.Error(codes.NotFound, err.Error())
	}
	m.obs.declined(len(ids))
	return nil
}

// endTask moves a live task to a terminal state: its resources go back to
// the allocator and its agent is marked for reallocation. forward says
// whether to tell the scheduler (callers forwarding an agent's own update
// do so themselves).
func (m *Master) endTask(fw *framework, t *task, st mezzo.TaskStatus, forward bool) {
	if t.state.Terminal() {
		return
	}
	if st.Time.IsZero() {
		st.Time = time.Now()
	}
	t.state, t.latest = st.State, st
	if !t.started.IsZero() {
		fw.stats.CPUSeconds += t.info.Resources.Get(mezzo.CPUs) * st.Time.Sub(t.started).Seconds()
	}
	fw.stats.TasksByState[st.State.String()]++
	m.obs.ended(st.State)
	if ag := m.agents[t.agent]; ag != nil {
		delete(ag.tasks, t)
		if err := m.alloc.Recover(fw.id, t.agent, t.info.Resources); err != nil {
			m.log.Error("recover task resources", "framework", fw.id, "agent", t.agent, "task", t.info.ID, "err", err)
		}
		m.markDirty(t.agent)
	}
	fw.retire(t.info.ID)
	if forward {
		fw.send(statusEvent(st))
	}
}

// retire adds an ended task to the framework's completed ones, forgetting
// the oldest past completedKept.
func (fw *framework) retire(id mezzo.TaskID) {
	fw.completed = append(fw.completed, id)
	if len(fw.completed) > completedKept {
		old := fw.completed[0]
		fw.completed = fw.completed[1:]
		if ot := fw.tasks[old]; ot != nil && ot.state.Terminal() {
			delete(fw.tasks, old)
		}
	}
}

// unknownLost answers TASK_LOST for a task the master does not know, and
// remembers that answer (task.unknown): it is final.
func (m *Master) unknownLost(fw *framework, id mezzo.TaskID, agent mezzo.AgentID, reason mezzo.Reason, msg string) {
	st := mezzo.TaskStatus{TaskID: id, AgentID: agent, State: mezzo.TaskLost, Reason: reason, Message: msg, Time: time.Now()}
	if fw.tasks[id] == nil {
		fw.tombstone(st)
		m.ha.reg.putLost(fw.id, lostRecord{Task: id, Agent: agent, Reason: reason, At: st.Time})
	}
	fw.send(statusEvent(st))
}

// tombstone remembers a task the master declared lost without knowing it.
func (fw *framework) tombstone(st mezzo.TaskStatus) {
	fw.tasks[st.TaskID] = &task{fw: fw.id, agent: st.AgentID, info: mezzo.TaskInfo{ID: st.TaskID, AgentID: st.AgentID},
		state: st.State, latest: st, seen: map[string]struct{}{}, ownEnd: true, unknown: true}
	fw.retire(st.TaskID)
}

func (m *Master) kill(fw *framework, id mezzo.TaskID) {
	t := fw.tasks[id]
	switch {
	case t == nil && m.deferKill(fw, id):
		m.log.Info("kill of a task not known yet held until agents are back", "framework", fw.id, "task", id)
	case t == nil:
		m.unknownLost(fw, id, "", mezzo.ReasonTaskUnknown, fmt.Sprintf("task %s is not known to the master", id))
	case t.state.Terminal():
		fw.send(statusEvent(reconciled(t)))
	default:
		ag := m.agents[t.agent]
		if ag == nil || !ag.send(m.killEvent(fw.id, id)) {
			m.log.Warn("kill: agent not connected; the task is killed or lost when it returns or times out", "framework", fw.id, "task", id, "agent", t.agent)
		}
	}
}

// killEvent asks an agent to kill a task, fenced with this master's epoch.
func (m *Master) killEvent(fw mezzo.FrameworkID, id mezzo.TaskID) *api.AgentEvent {
	return &api.AgentEvent{Event: &api.AgentEvent_KillTask_{KillTask: &api.AgentEvent_KillTask{
		FrameworkId: string(fw), TaskId: string(id), MasterEpoch: m.ha.epoch}}}
}

// reconciled is a task's latest known state as a reconciliation answer.
func reconciled(t *task) mezzo.TaskStatus {
	s := t.latest
	s.UUID = ""
	s.Reason = mezzo.ReasonReconciliation
	s.Data = nil
	return s
}

func (m *Master) reconcile(fw *framework, req *api.ReconcileRequest) {
	if len(req.Tasks) == 0 {
		ids := make([]mezzo.TaskID, 0, len(fw.tasks))
		for id, t := range fw.tasks {
			if !t.state.Terminal() {
				ids = append(ids, id)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			fw.send(statusEvent(reconciled(fw.tasks[id])))
		}
		m.deferImplicit(fw)
		return
	}
	for _, rt := range req.Tasks {
		id := mezzo.TaskID(rt.TaskId)
		if t := fw.tasks[id]; t != nil {
			fw.send(statusEvent(reconciled(t)))
			continue
		}
		if m.deferReconcile(fw, id, mezzo.AgentID(rt.AgentId)) {
			continue
		}
		m.unknownLost(fw, id, mezzo.AgentID(rt.AgentId), mezzo.ReasonReconciliation, "task unknown to the master")
	}
}
