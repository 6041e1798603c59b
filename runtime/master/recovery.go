package master

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Soft-state recovery. A new leader starts empty but for the registry
// (registry.go). Agents re-register with everything they run (tasks,
// executors, the frameworks those belong to) and schedulers re-subscribe
// with their framework IDs; from these the leader rebuilds agents,
// frameworks, tasks, executors and the allocator's usage. Until
// HAConfig.RecoveryFraction of the registry's agents are back, or
// HAConfig.RecoveryTimeout has passed, it makes no offers: an agent not
// yet back may run tasks whose resources an early offer would hand out
// again.
//
// Reconciliation in that window (the counterpart of Master.reconcile in
// frameworks.go): a task
// the leader does not know yet may run on an agent that is not back, so
// the leader must not call it lost. Explicit requests for such tasks
// (naming a known agent not yet back, or no agent) and implicit requests
// are held and answered as agents come back: the task's state if the
// returning agent runs it, TASK_LOST if it was named on that agent and
// the agent returned without it; what is still held when the wait ends
// (the agent did not come back in time and is forgotten) is answered
// then, TASK_LOST unless the task turned up.
type recovery struct {
	known    map[mezzo.AgentID]bool // true once back
	back     int
	need     int
	deadline time.Time

	// Held reconciliation: explicit tasks by the not-yet-back agent the
	// request named ("" when it named none), and frameworks that asked
	// for implicit reconciliation.
	held     map[mezzo.AgentID]map[taskKey]struct{}
	implicit map[mezzo.FrameworkID]bool
	// kills are kill requests for tasks the leader does not know yet:
	// carried out when an agent comes back running the task, answered
	// TASK_LOST (unknown) when the wait ends without it.
	kills map[taskKey]struct{}
}

// RecoveryStats describes this master's last election, for Snapshot and
// the failover experiment.
type RecoveryStats struct {
	// Leader and Epoch: whether the master leads, with which epoch.
	Leader bool
	Epoch  int64
	// ElectedAt is when it won the election; RecoveredAt when it first
	// allocated again (zero while recovering); AllAgentsBackAt when the
	// last agent of the registry re-registered (zero until then, and if
	// one never did).
	ElectedAt, RecoveredAt, AllAgentsBackAt time.Time
	// KnownAgents were in the registry; AgentsBack re-registered before
	// allocation resumed; KnownFrameworks were in the registry.
	KnownAgents, AgentsBack, KnownFrameworks int
	// TimedOut says allocation resumed on RecoveryTimeout, not the fraction.
	TimedOut bool
}

// recoveryStats reports the last election's recovery, read on the loop.
func (m *Master) recoveryStats() RecoveryStats {
	s := m.ha.last
	s.Leader, s.Epoch = m.ha.leader || !m.ha.enabled, m.ha.epoch
	if m.ha.rec != nil {
		s.AgentsBack = m.ha.rec.back
	}
	return s
}

// becomeLeader starts a term: fresh soft state, frameworks from the
// registry re-created disconnected (their failover timeouts run from now),
// allocation held until enough agents are back.
func (m *Master) becomeLeader(epoch int64, at time.Time, st registryState, reg *registry) {
	m.resetState()
	now := time.Now()
	m.ha.leader, m.ha.epoch, m.ha.electedAt, m.ha.reg = true, epoch, at, reg
	m.ha.registered = make(map[string]struct{}, len(st.agents))
	m.ha.last = RecoveryStats{ElectedAt: at, KnownAgents: len(st.agents), KnownFrameworks: len(st.frameworks)}
	for _, id := range st.agents {
		m.ha.registered[string(id)] = struct{}{}
	}
	m.learnUntil = now.Add(m.cfg.HA.RecoveryTimeout)
	m.restoreAgentKeys(st.agentKeys)
	for _, rf := range st.frameworks {
		// The record's principal field predates FrameworkInfo.principal
		// and was written with it ever since: it is the owner.
		info := rf.info
		info.Principal = rf.principal
		m.placeholder(info, now, !rf.reported)
	}
	m.restoreLost(st.lost, now)
	m.drains = make(map[mezzo.AgentID]drainRec, len(st.drains))
	for id, d := range st.drains {
		m.drains[id] = drainRec{since: d.Since, deadline: d.Deadline}
	}
	if len(st.agents) > 0 {
		rec := &recovery{known: make(map[mezzo.AgentID]bool, len(st.agents)), deadline: now.Add(m.cfg.HA.RecoveryTimeout)}
		for _, id := range st.agents {
			rec.known[id] = false
		}
		rec.need = int(math.Ceil(m.cfg.HA.RecoveryFraction * float64(len(st.agents))))
		m.ha.rec = rec
	} else {
		m.ha.last.RecoveredAt = now
	}
	m.allDirty = true
	m.ha.epochA.Store(epoch) // the role (acting, Leader) turns here
	m.announceElected()
}

// restoreLost re-creates the tasks earlier leaders declared lost on their
// own (registry.go), so the agents that turn up with them are told to kill
// them and their updates are answered with that TASK_LOST again. Records
// of frameworks gone, or older than lostKept, are deleted.
func (m *Master) restoreLost(lost map[mezzo.FrameworkID][]lostRecord, now time.Time) {
	ids := make([]mezzo.FrameworkID, 0, len(lost))
	for id := range lost {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		fw := m.frameworks[id]
		for _, l := range lost[id] {
			switch {
			case fw == nil || now.Sub(l.At) > lostKept:
				m.ha.reg.delLost(id, l.Task)
			case fw.tasks[l.Task] == nil:
				fw.tombstone(mezzo.TaskStatus{TaskID: l.Task, AgentID: l.Agent, State: mezzo.TaskLost, Reason: l.Reason,
					Message: "declared lost by an earlier leader", Time: l.At})
			}
		}
	}
}

// stepDown ends a term: every stream is closed with Unavailable (clients
// go look for the new leader) and the soft state is dropped.
func (m *Master) stepDown(why string) {
	if !m.ha.leader {
		return
	}
	m.ha.leader = false
	m.ha.epochA.Store(0)
	m.ha.reg.close()
	m.ha.reg = nil
	m.ha.rec = nil
	err := m.notLeader()
	for _, fw := range m.frameworks {
		if fw.out != nil {
			fw.out.close(err)
		}
	}
	for _, ag := range m.agents {
		if ag.out != nil {
			ag.out.close(err)
		}
	}
	m.resetState()
	m.log.Warn("stepped down; standing by", "why", why)
}

// resetState drops all soft state for a fresh allocator.
func (m *Master) resetState() {
	pol, err := m.cfg.Registry.New(m.cfg.Policy, m.cfg.PolicyOptions)
	if err == nil {
		var a *alloc.Allocator
		a, err = alloc.New(alloc.Config{Policy: pol, OfferTimeout: m.cfg.OfferTimeout, OfferIDPrefix: m.nextID("O") + "-"})
		if err == nil {
			m.alloc = a
		}
	}
	if err != nil {
		// New checked the policy already; this cannot fail.
		m.log.Error("new allocator", "err", err)
	}
	m.frameworks = map[mezzo.FrameworkID]*framework{}
	m.perPrincipal = map[string]int{}
	m.removed = map[mezzo.FrameworkID]*framework{}
	m.removedOrder = nil
	m.agents = map[mezzo.AgentID]*agentRec{}
	clear(m.dirty)
	m.allDirty = false
}

// placeholder re-creates a framework known from the registry or from an
// agent's re-registration whose scheduler has not re-subscribed yet: in
// the allocator but inactive, disconnected since now, so its failover
// timeout runs. It belongs to info.Principal, the owner the record names,
// and to nobody else (maySubscribe). counted says whether it counts
// towards the principal's cap: a framework the principal registered does,
// one rebuilt from an agent's report only does once its scheduler takes it
// back, for any holder of the agents' certificate may report frameworks
// in any principal's name.
func (m *Master) placeholder(info mezzo.FrameworkInfo, now time.Time, counted bool) *framework {
	if info.ID == "" {
		return nil
	}
	if fw := m.frameworks[info.ID]; fw != nil {
		return fw
	}
	if _, gone := m.removed[info.ID]; gone {
		return nil
	}
	if err := m.alloc.AddFramework(info.ID, info); err != nil {
		m.log.Error("recover framework", "framework", info.ID, "err", err)
		return nil
	}
	if _, err := m.alloc.DeactivateFramework(info.ID); err != nil {
		m.log.Error("recover framework", "framework", info.ID, "err", err)
	}
	fw := &framework{id: info.ID, info: info, tasks: map[mezzo.TaskID]*task{}, disconnectedAt: now}
	fw.stats.TasksByState = map[string]int{}
	m.frameworks[info.ID] = fw
	if counted {
		m.countFramework(fw)
	}
	timeout := fw.failoverTimeout(m.cfg.FailoverTimeout, m.cfg.MaxFailoverTimeout)
	if info.Principal == "" && m.aclEnforced() {
		m.log.Warn("framework recovered with no principal recorded: no principal may subscribe it (its tasks were launched by a master that did not record owners); it is removed when its failover timeout ends",
			"framework", info.ID, "name", api.Clip(info.Name), "failover_timeout", timeout)
		return fw
	}
	m.log.Info("framework recovered; waiting for its scheduler", "framework", info.ID, "name", api.Clip(info.Name),
		"principal", info.Principal, "failover_timeout", timeout, "counted_towards_cap", counted)
	return fw
}

// recoverFrameworks creates placeholders for the frameworks a
// re-registering agent runs tasks of, owned by the principal the agent
// recorded with them (the FrameworkInfo of their launch), not counted
// towards that principal's cap (placeholder), also by the next leader
// (the registry record says they came from a report).
func (m *Master) recoverFrameworks(req *api.AgentSubscribeRequest) {
	now := time.Now()
	for _, p := range req.Frameworks {
		if fw := m.frameworks[fwID(p)]; fw != nil {
			if p.GetPrincipal() != fw.info.Principal {
				// Only a master writes these records, after authenticating
				// the owner, so they cannot disagree unless an agent lies:
				// the framework stays with the owner this master knows.
				m.log.Warn("agent reports a framework under another principal than its owner's; the owner is kept",
					"agent", req.GetAgent().GetAgentId(), "framework", fw.id, "owner", fw.info.Principal, "reported", p.GetPrincipal())
			}
			continue
		}
		info, err := api.FrameworkFromProto(p)
		if err != nil {
			continue
		}
		if fw := m.placeholder(info, now, false); fw != nil {
			m.ha.reg.putFramework(info, info.Principal, true)
		}
	}
}

func fwID(p *api.FrameworkInfo) mezzo.FrameworkID { return mezzo.FrameworkID(p.GetFrameworkId()) }

// agentAdmitted records an agent's registration: in the registry, once,
// if the agent is new there or its secret was bound anew (keyChanged),
// and towards the recovery quorum.
func (m *Master) agentAdmitted(id mezzo.AgentID, hostname string, keyChanged bool) {
	if !m.ha.enabled {
		return
	}
	_, known := m.ha.registered[string(id)]
	if !known || keyChanged {
		m.ha.registered[string(id)] = struct{}{}
		m.ha.reg.putAgent(id, hostname, m.agentDigest(id))
	}
	if rec := m.ha.rec; rec != nil {
		if back, known := rec.known[id]; known && !back {
			rec.known[id] = true
			rec.back++
			if rec.back == len(rec.known) {
				m.ha.last.AllAgentsBackAt = time.Now()
			}
			m.answerHeld(rec, id)
		}
	}
}

// deferReconcile holds an explicit reconciliation of a task the leader
// does not know while it may run on an agent that is not back yet. It
// says whether it held it.
func (m *Master) deferReconcile(fw *framework, id mezzo.TaskID, agent mezzo.AgentID) bool {
	rec := m.ha.rec
	if rec == nil {
		return false
	}
	if agent != "" {
		if back, known := rec.known[agent]; !known || back {
			return false // the agent is back or was never here: the task is unknown
		}
	}
	if rec.held == nil {
		rec.held = map[mezzo.AgentID]map[taskKey]struct{}{}
	}
	h := rec.held[agent]
	if h == nil {
		h = map[taskKey]struct{}{}
		rec.held[agent] = h
	}
	h[taskKey{fw: fw.id, id: id}] = struct{}{}
	return true
}

// deferImplicit holds the rest of an implicit reconciliation (the tasks of
// agents not back yet) while the leader recovers.
func (m *Master) deferImplicit(fw *framework) {
	if rec := m.ha.rec; rec != nil {
		if rec.implicit == nil {
			rec.implicit = map[mezzo.FrameworkID]bool{}
		}
		rec.implicit[fw.id] = true
	}
}

// deferKill holds a kill of a task the leader does not know while agents
// that may run it are not back yet. It says whether it held it.
func (m *Master) deferKill(fw *framework, id mezzo.TaskID) bool {
	rec := m.ha.rec
	if rec == nil || rec.back == len(rec.known) {
		return false
	}
	if rec.kills == nil {
		rec.kills = map[taskKey]struct{}{}
	}
	rec.kills[taskKey{fw: fw.id, id: id}] = struct{}{}
	return true
}

// killHeld carries out the held kills of tasks a returning agent runs;
// call it once the agent has its Registered event.
func (m *Master) killHeld(ag *agentRec) {
	rec := m.ha.rec
	if rec == nil || len(rec.kills) == 0 {
		return
	}
	for _, t := range ag.sortedTasks() {
		k := taskKey{fw: t.fw, id: t.info.ID}
		if _, ok := rec.kills[k]; ok {
			delete(rec.kills, k)
			if fw := m.frameworks[t.fw]; fw != nil {
				m.kill(fw, t.info.ID)
			}
		}
	}
}

// answerHeld answers the reconciliation held for tasks of an agent that
// just came back: each task it runs that a request named (on it or on no
// agent) or whose framework asked implicitly, once; then TASK_LOST for
// the tasks named on it that it does not run.
func (m *Master) answerHeld(rec *recovery, id mezzo.AgentID) {
	onAgent, anywhere := rec.held[id], rec.held[""]
	if len(onAgent) == 0 && len(anywhere) == 0 && len(rec.implicit) == 0 {
		return
	}
	if ag := m.agents[id]; ag != nil {
		for _, t := range ag.sortedTasks() {
			k := taskKey{fw: t.fw, id: t.info.ID}
			_, named := onAgent[k]
			_, namedAnywhere := anywhere[k]
			if fw := m.frameworks[t.fw]; fw != nil && (named || namedAnywhere || rec.implicit[t.fw] && !t.state.Terminal()) {
				fw.send(statusEvent(reconciled(t)))
			}
			delete(onAgent, k)
			delete(anywhere, k)
		}
	}
	delete(rec.held, id)
	m.answerLost(onAgent, fmt.Sprintf("task unknown to the master: agent %s re-registered without it", id))
}

// answerLost answers held tasks the leader still does not know with
// TASK_LOST (and those it learnt of meanwhile with their state).
func (m *Master) answerLost(held map[taskKey]struct{}, msg string) {
	for _, k := range sortedTaskKeys(held) {
		fw := m.frameworks[k.fw]
		if fw == nil {
			continue
		}
		if t := fw.tasks[k.id]; t != nil {
			fw.send(statusEvent(reconciled(t)))
			continue
		}
		m.unknownLost(fw, k.id, "", mezzo.ReasonReconciliation, msg)
	}
}

// answerAllHeld ends the window: what is still held belongs to agents
// that did not come back in time.
func (m *Master) answerAllHeld(rec *recovery) {
	agents := make([]mezzo.AgentID, 0, len(rec.held))
	for id := range rec.held {
		agents = append(agents, id)
	}
	sort.Slice(agents, func(i, j int) bool { return agents[i] < agents[j] })
	for _, id := range agents {
		msg := fmt.Sprintf("task unknown to the master: agent %s did not re-register after the failover", id)
		if id == "" {
			msg = "task unknown to the master: not reported by any agent that re-registered after the failover"
		}
		m.answerLost(rec.held[id], msg)
	}
	for _, k := range sortedTaskKeys(rec.kills) {
		if fw := m.frameworks[k.fw]; fw != nil {
			m.kill(fw, k.id) // now known (and killed) or answered unknown
		}
	}
	rec.held, rec.implicit, rec.kills = nil, nil, nil
}

// agentForgotten drops a removed agent from the registry.
func (m *Master) agentForgotten(id mezzo.AgentID) {
	if !m.ha.enabled {
		return
	}
	delete(m.ha.registered, string(id))
	m.ha.reg.delAgent(id)
}

// holding reports whether allocation waits for agents to come back; it
// ends the wait once enough are back or the timeout passed.
func (m *Master) holding(now time.Time) bool {
	rec := m.ha.rec
	if rec == nil {
		return false
	}
	timedOut := !now.Before(rec.deadline)
	if rec.back < rec.need && !timedOut {
		return true
	}
	m.ha.last.AgentsBack, m.ha.last.TimedOut = rec.back, rec.back < rec.need
	m.ha.last.RecoveredAt = now
	m.ha.rec = nil
	var missing []mezzo.AgentID
	for id, back := range rec.known {
		if !back {
			missing = append(missing, id)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
	for _, id := range missing {
		if _, here := m.agents[id]; !here {
			m.agentForgotten(id)
		}
	}
	m.answerAllHeld(rec)
	m.allDirty = true
	m.log.Info("recovered; allocating again", "agents_back", rec.back, "known_agents", len(rec.known),
		"missing", len(missing), "timed_out", m.ha.last.TimedOut, "since_election", now.Sub(m.ha.electedAt))
	return false
}

// adoptableExecutors charges the executors a re-registering agent still
// runs for the tasks being adopted (an executor with no adopted task is
// not charged: the agent shuts idle executors down itself).
func (m *Master) adoptableExecutors(req *api.AgentSubscribeRequest, adopt []*task, used map[mezzo.FrameworkID]mezzo.Resources) map[execKey]mezzo.Resources {
	live := map[execKey]bool{}
	for _, t := range adopt {
		if t.executor != "" {
			live[execKey{fw: t.fw, id: t.executor}] = true
		}
	}
	out := map[execKey]mezzo.Resources{}
	for _, re := range req.Executors {
		ex, err := api.ExecutorFromProto(re.GetExecutor())
		if err != nil || ex == nil {
			continue
		}
		k := execKey{fw: mezzo.FrameworkID(re.FrameworkId), id: ex.ID}
		if !live[k] || ex.Resources.IsEmpty() {
			continue
		}
		if _, dup := out[k]; dup {
			continue
		}
		out[k] = ex.Resources
		used[k.fw] = used[k.fw].Add(ex.Resources)
	}
	return out
}

// Progress counts what a new leader has back, cheaply (no per-item
// copies, unlike Snapshot), for the failover experiment and tests that
// poll a recovering master.
type Progress struct {
	HA RecoveryStats
	// ConnectedAgents have a live stream; LiveTasks are not terminal (on
	// frameworks not removed); ConnectedFrameworks have a scheduler
	// subscribed.
	ConnectedAgents, LiveTasks, ConnectedFrameworks int
}

// Progress reads the counts on the loop.
func (m *Master) Progress(ctx context.Context) (Progress, error) {
	var p Progress
	err := m.call(ctx, func() error {
		p.HA = m.recoveryStats()
		for _, ag := range m.agents {
			if ag.out != nil {
				p.ConnectedAgents++
			}
			p.LiveTasks += len(ag.tasks)
		}
		for _, fw := range m.frameworks {
			if fw.out != nil {
				p.ConnectedFrameworks++
			}
		}
		return nil
	})
	return p, err
}

// sortedTaskKeys orders a set of tasks by framework, then task, so answers
// go out in the same order on every run.
func sortedTaskKeys(set map[taskKey]struct{}) []taskKey {
	keys := make([]taskKey, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].fw != keys[j].fw {
			return keys[i].fw < keys[j].fw
		}
		return keys[i].id < keys[j].id
	})
	return keys
}
