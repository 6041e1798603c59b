package master

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// subscribeAgent registers a new agent, or re-registers a known one onto a
// new stream. A re-registering agent lists the tasks it still runs: tasks
// the master thought live there but the agent does not list are lost, and
// tasks of known frameworks the master had forgotten (it removed the agent
// in between) are adopted and charged again. key is the digest of the
// agent's secret that agentCredential accepted, issue the secret to hand
// the agent when the master made a new one.
func (m *Master) subscribeAgent(req *api.AgentSubscribeRequest, out *outbox[*api.AgentEvent], key [sha256.Size]byte, issue string) (*agentRec, error) {
	now := time.Now()
	res, err := api.ResourcesFromProto(req.GetAgent().GetResources())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "agent resources: %v", err)
	}
	if res.IsEmpty() {
		return nil, status.Error(codes.InvalidArgument, "agent offers no resources")
	}
	info := alloc.AgentInfo{Hostname: req.GetAgent().GetHostname(), Attributes: api.AttributesFromProto(req.GetAgent().GetAttributes()), Resources: res}
	id := mezzo.AgentID(req.GetAgent().GetAgentId())
	reported := map[taskKey]bool{}
	for _, rt := range req.Tasks {
		reported[taskKey{fw: mezzo.FrameworkID(rt.FrameworkId), id: mezzo.TaskID(rt.GetTask().GetTaskId())}] = true
	}

	m.recoverFrameworks(req)
	var ended []taskKey // live on the agent, already ended here
	ag := m.agents[id]
	fresh := ag == nil
	if ag != nil && !ag.info.Resources.Equal(res) {
		m.removeAgent(ag, fmt.Sprintf("agent %s re-registered with different resources (%s, was %s)", id, res, ag.info.Resources))
		ag, fresh = nil, true
	}
	if ag != nil {
		if ag.out != nil {
			ag.out.close(errReplaced)
		}
		for _, t := range ag.sortedTasks() {
			if reported[taskKey{fw: t.fw, id: t.info.ID}] {
				continue
			}
			if fw := m.frameworks[t.fw]; fw != nil {
				m.endTask(fw, t, mezzo.TaskStatus{TaskID: t.info.ID, AgentID: id, ExecutorID: t.executor, State: mezzo.TaskLost,
					Reason: mezzo.ReasonAgentRestarted, Message: fmt.Sprintf("agent %s re-registered without this task", id)}, true)
				t.ownEnd = true
			}
		}
		if err := m.alloc.ActivateAgent(id); err != nil {
			return nil, status.Errorf(codes.Internal, "reactivate agent: %v", err)
		}
		ended = m.endedHere(req)
		m.log.Info("agent re-registered", "agent", id, "hostname", info.Hostname, "tasks", len(req.Tasks))
	} else {
		if id == "" {
			id = mezzo.AgentID(m.nextID("A"))
		}
		ag = &agentRec{id: id, info: info, tasks: map[*task]struct{}{}, executors: map[execKey]mezzo.Resources{}}
		var used map[mezzo.FrameworkID]mezzo.Resources
		var adopt []*task
		used, adopt, ended = m.adoptable(id, req)
		execs := m.adoptableExecutors(req, adopt, used)
		if err := m.alloc.AddAgent(id, info, used); err != nil {
			m.log.Warn("agent's running tasks not adopted", "agent", id, "err", err)
			adopt, execs = nil, nil
			if err := m.alloc.AddAgent(id, info, nil); err != nil {
				return nil, status.Errorf(codes.Internal, "add agent: %v", err)
			}
		}
		for _, t := range adopt {
			fw := m.frameworks[t.fw]
			fw.tasks[t.info.ID] = t
			ag.tasks[t] = struct{}{}
		}
		m.agents[id] = ag
		for k, r := range execs {
			ag.executors[k] = r
		}
		m.log.Info("agent registered", "agent", id, "hostname", info.Hostname, "resources", res.String(), "adopted_tasks", len(adopt))
	}
	m.rememberEnded(id, req)
	m.agentAdmitted(id, info.Hostname, m.bindAgentKey(id, key))
	m.keepDrained(ag, fresh)
	ag.out = out
	ag.sessionID = m.newSessionID()
	ag.live = newLiveness(ag.sessionID, now)
	out.push(&api.AgentEvent{Event: &api.AgentEvent_Registered_{Registered: &api.AgentEvent_Registered{
		AgentId: string(id), SessionId: ag.sessionID, PingIntervalNanos: int64(m.cfg.PingInterval), MasterId: m.cfg.MasterID,
		MasterEpoch: m.ha.epoch, AgentSecret: issue,
	}}})
	for _, t := range ended {
		m.log.Warn("agent came back with a task already reported ended; killing it", "agent", id, "framework", t.fw, "task", t.id)
		out.push(m.killEvent(t.fw, t.id))
	}
	m.killHeld(ag)
	m.markDirty(id)
	return ag, nil
}

// adoptable picks the live tasks a re-registering agent reports for
// frameworks the master knows and does not already track there. ended are
// live tasks the master has already reported terminal to their framework
// (it removed the agent, say, after its ping timeout, and called them
// lost): adopting them would give the framework a second terminal state, so
// the agent is told to kill them instead.
func (m *Master) adoptable(id mezzo.AgentID, req *api.AgentSubscribeRequest) (used map[mezzo.FrameworkID]mezzo.Resources, adopt []*task, ended []taskKey) {
	used = map[mezzo.FrameworkID]mezzo.Resources{}
	for _, rt := range req.Tasks {
		fw := m.frameworks[mezzo.FrameworkID(rt.FrameworkId)]
		st, err := api.StateFromProto(rt.State)
		if fw == nil || err != nil || st.Terminal() {
			continue
		}
		info, err := api.TaskFromProto(rt.Task)
		if err != nil || info.ID == "" {
			continue
		}
		if old := fw.tasks[info.ID]; old != nil {
			if old.state.Terminal() {
				ended = append(ended, taskKey{fw: fw.id, id: info.ID})
			}
			continue
		}
		info.AgentID = id
		t := &task{fw: fw.id, agent: id, info: info, executor: mezzo.ExecutorID(rt.ExecutorId), state: st, seen: map[string]struct{}{}}
		t.latest = mezzo.TaskStatus{TaskID: info.ID, AgentID: id, ExecutorID: t.executor, State: st, Time: time.Now()}
		used[fw.id] = used[fw.id].Add(info.Resources)
		adopt = append(adopt, t)
	}
	return used, adopt, ended
}

// rememberEnded records the ended tasks a re-registering agent reports
// (their last updates not yet acknowledged) that the master does not know:
// a new leader must answer a reconciliation of such a task with its end,
// not call it unknown (TASK_LOST) while the agent's TASK_FINISHED is on
// its way.
func (m *Master) rememberEnded(id mezzo.AgentID, req *api.AgentSubscribeRequest) {
	now := time.Now()
	for _, rt := range req.Tasks {
		fw := m.frameworks[mezzo.FrameworkID(rt.FrameworkId)]
		st, err := api.StateFromProto(rt.State)
		if fw == nil || err != nil || !st.Terminal() {
			continue
		}
		info, err := api.TaskFromProto(rt.Task)
		if err != nil || info.ID == "" || fw.tasks[info.ID] != nil {
			continue
		}
		info.AgentID = id
		t := &task{fw: fw.id, agent: id, info: info, executor: mezzo.ExecutorID(rt.ExecutorId), state: st, seen: map[string]struct{}{}}
		t.latest = mezzo.TaskStatus{TaskID: info.ID, AgentID: id, ExecutorID: t.executor, State: st, Time: now}
		fw.tasks[info.ID] = t
		fw.retire(info.ID)
	}
}

// endedHere lists the live tasks a re-registering agent reports that the
// master has already reported terminal (see adoptable).
func (m *Master) endedHere(req *api.AgentSubscribeRequest) []taskKey {
	var ended []taskKey
	for _, rt := range req.Tasks {
		fw := m.frameworks[mezzo.FrameworkID(rt.FrameworkId)]
		st, err := api.StateFromProto(rt.State)
		if fw == nil || err != nil || st.Terminal() {
			continue
		}
		if t := fw.tasks[mezzo.TaskID(rt.GetTask().GetTaskId())]; t != nil && t.state.Terminal() {
			ended = append(ended, taskKey{fw: fw.id, id: t.info.ID})
		}
	}
	return ended
}

// authAgent finds the agent a call belongs to, lets the call through only
// from its current registration and principal (checkAgentCall), and notes
// that the agent was heard from.
func (m *Master) authAgent(ctx context.Context, h *api.AgentHeader) (*agentRec, error) {
	ag := m.agents[mezzo.AgentID(h.GetAgentId())]
	if ag == nil {
		return nil, errAgentUnknown(h)
	}
	if err := m.checkAgentCall(ctx, h, ag.sessionID, ag.principal); err != nil {
		return nil, err
	}
	ag.live.stamp(time.Now())
	return ag, nil
}

func errAgentUnknown(h *api.AgentHeader) error {
	return status.Errorf(codes.NotFound, "agent %q is not registered", h.GetAgentId())
}

// checkAgentCall lets an agent's call through only from the registration
// (session) and the principal the agent holds now: on the loop for every
// agent call, off it for pongs (liveness.go).
func (m *Master) checkAgentCall(ctx context.Context, h *api.AgentHeader, session, principal string) error {
	if session != h.GetSessionId() {
		return status.Errorf(codes.FailedPrecondition, "agent %s: session %q is not its current registration", h.GetAgentId(), h.GetSessionId())
	}
	return m.checkAgentPrincipal(ctx, mezzo.AgentID(h.GetAgentId()), principal)
}

// agentGone handles the end of an agent's stream: its offers are withdrawn
// at once; it is removed only if it does not come back within the ping
// timeout.
func (m *Master) agentGone(id mezzo.AgentID, session string) {
	ag := m.agents[id]
	if ag == nil || ag.sessionID != session || ag.out == nil {
		return
	}
	ag.out.close(nil)
	ag.out = nil
	withdrawn, _ := m.alloc.DeactivateAgent(id)
	m.rescinded(withdrawn, "agent disconnected")
	m.log.Warn("agent disconnected", "agent", id)
}

// removeAgent forgets an agent: its offers are rescinded, its live tasks
// reported TASK_LOST, and every framework hears that the agent is lost.
func (m *Master) removeAgent(ag *agentRec, why string) {
	withdrawn, err := m.alloc.RemoveAgent(ag.id)
	if err != nil {
		m.log.Error("remove agent from allocator", "agent", ag.id, "err", err)
	}
	m.rescinded(withdrawn, why)
	delete(m.dirty, ag.id)
	// The allocator released what the agent's tasks held; drop the tasks
	// from the agent first so endTask does not recover them twice.
	tasks := ag.sortedTasks()
	clear(ag.tasks)
	delete(m.agents, ag.id)
	m.forgetLiveness(ag)
	m.agentForgotten(ag.id)
	now := time.Now()
	m.agentKeyRemoved(ag.id, now)
	for _, t := range tasks {
		if fw := m.frameworks[t.fw]; fw != nil {
			m.endTask(fw, t, mezzo.TaskStatus{TaskID: t.info.ID, AgentID: ag.id, ExecutorID: t.executor, State: mezzo.TaskLost,
				Reason: mezzo.ReasonAgentLost, Message: why, Time: now}, true)
			t.ownEnd = true
			m.ha.reg.putLost(fw.id, lostRecord{Task: t.info.ID, Agent: ag.id, Reason: mezzo.ReasonAgentLost, At: now})
		}
	}
	if ag.out != nil {
		ag.out.close(status.Error(codes.NotFound, why))
		ag.out = nil
	}
	for _, fw := range m.sortedFrameworks() {
		fw.send(&api.SchedulerEvent{Event: &api.SchedulerEvent_Failure_{Failure: &api.SchedulerEvent_Failure{AgentId: string(ag.id), Status: -1}}})
	}
	m.log.Warn("agent removed", "agent", ag.id, "why", why, "lost_tasks", len(tasks))
}

// agentUpdate applies an agent's status update and forwards it. A repeated
// UUID is a resend: forwarded again (the scheduler may have missed it) but
// applied once.
func (m *Master) agentUpdate(ag *agentRec, req *api.AgentUpdateRequest) error {
	st, err := api.StatusFromProto(req.Status)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if st.TaskID == "" {
		return status.Error(codes.InvalidArgument, "status update names no task")
	}
	if st.AgentID == "" {
		st.AgentID = ag.id
	}
	if st.Time.IsZero() {
		st.Time = time.Now()
	}
	fwID := mezzo.FrameworkID(req.FrameworkId)
	fw := m.frameworks[fwID]
	if fw == nil {
		// Nobody will ever acknowledge it: do so on the framework's behalf
		// so the agent stops resending.
		if st.UUID != "" {
			ag.send(ackEvent(fwID, st.TaskID, st.UUID))
		}
		return nil
	}
	if t := fw.tasks[st.TaskID]; t != nil && (t.agent == ag.id || t.unknown) {
		_, dup := t.seen[st.UUID]
		if !dup && t.ownEnd {
			// The master ended the task on its own (its agent was removed,
			// or it answered TASK_LOST for it unknown) and told the
			// framework; a later word from the agent would be a second
			// terminal state. Acknowledge it for the framework and
			// say the master's end again instead: the framework may have
			// been disconnected when it was first said, and nothing
			// resends what the master itself decides.
			m.log.Info("update for a task already ended; the master's end is sent again instead", "framework", fwID, "agent", ag.id,
				"task", st.TaskID, "state", st.State, "ended_as", t.state)
			if st.UUID != "" {
				ag.send(ackEvent(fwID, st.TaskID, st.UUID))
			}
			fw.send(statusEvent(t.latest))
			return nil
		}
		if st.UUID != "" {
			t.seen[st.UUID] = struct{}{}
		}
		switch {
		case dup || t.state.Terminal():
		case st.State.Terminal():
			m.endTask(fw, t, st, false)
		default:
			if st.State == mezzo.TaskRunning && t.started.IsZero() {
				t.started = st.Time
			}
			t.state, t.latest = st.State, st
		}
	}
	if m.debugging() {
		m.log.Debug("status update", "framework", fwID, "agent", ag.id, "task", st.TaskID, "state", st.State, "uuid", st.UUID)
	}
	m.obs.awaitAck(fwID, st.TaskID, st.UUID)
	fw.send(statusEvent(st))
	return nil
}

func ackEvent(fw mezzo.FrameworkID, task mezzo.TaskID, uuid string) *api.AgentEvent {
	return &api.AgentEvent{Event: &api.AgentEvent_Acknowledge_{Acknowledge: &api.AgentEvent_Acknowledge{
		FrameworkId: string(fw), TaskId: string(task), Uuid: uuid,
	}}}
}

// acknowledge forwards a scheduler's acknowledgement to the task's agent.
func (m *Master) acknowledge(fw *framework, req *api.AcknowledgeRequest) error {
	if req.Uuid == "" || req.TaskId == "" {
		return status.Error(codes.InvalidArgument, "acknowledge needs a task_id and a uuid")
	}
	m.obs.acked(fw.id, mezzo.TaskID(req.TaskId), req.Uuid)
	agentID := mezzo.AgentID(req.AgentId)
	if t := fw.tasks[mezzo.TaskID(req.TaskId)]; agentID == "" && t != nil {
		agentID = t.agent
	}
	ag := m.agents[agentID]
	if m.debugging() {
		m.log.Debug("acknowledgement", "framework", fw.id, "agent", agentID, "task", req.TaskId, "uuid", req.Uuid, "agent_here", ag != nil)
	}
	if ag == nil {
		return nil // the agent is gone; its updates went with it
	}
	ag.send(ackEvent(fw.id, mezzo.TaskID(req.TaskId), req.Uuid))
	return nil
}

func (m *Master) executorExited(ag *agentRec, req *api.ExecutorExitedRequest) {
	fwID := mezzo.FrameworkID(req.FrameworkId)
	k := execKey{fw: fwID, id: mezzo.ExecutorID(req.ExecutorId)}
	if r, ok := ag.executors[k]; ok {
		delete(ag.executors, k)
		if err := m.alloc.Recover(fwID, ag.id, r); err != nil {
			m.log.Error("recover executor resources", "framework", fwID, "agent", ag.id, "executor", k.id, "err", err)
		}
		m.markDirty(ag.id)
	}
	m.log.Info("executor exited", "framework", fwID, "agent", ag.id, "executor", req.ExecutorId, "status", req.Status, "message", api.Clip(req.Message))
	if fw := m.frameworks[fwID]; fw != nil {
		fw.send(&api.SchedulerEvent{Event: &api.SchedulerEvent_Failure_{Failure: &api.SchedulerEvent_Failure{
			AgentId: string(ag.id), ExecutorId: req.ExecutorId, Status: req.Status,
		}}})
	}
}
