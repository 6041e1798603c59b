package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// The operator endpoints are the only writes on the master's HTTP server:
//
//	POST /api/v1/tasks/{id}/kill[?framework=F]   kill a task (202)
//	POST /api/v1/agents/{id}/drain[?deadline=D]  start maintenance on an agent
//	POST /api/v1/agents/{id}/undrain             end it
//
// Who may call them: with an ACL (Config.Authorizer other than AllowAll)
// the caller names itself with a bearer token from
// Config.OperatorCredentials (or a verified client certificate, when the
// HTTP server runs TLS) and needs kill_tasks over the framework's principal
// (or to own the framework) or drain_agents. Without an ACL they answer
// loopback clients only: anyone who can reach a loopback port can already
// run tasks there, but an open kill on a routable address could not be
// undone.

// drainRec is an agent under maintenance: it gets no offers until it is
// undrained, and frameworks running tasks there were sent inverse offers.
type drainRec struct {
	since    time.Time
	deadline time.Time // zero: none given
}

// KillResult is the body of a kill's answer: the kill was sent; the task's
// TASK_KILLED update follows through its framework.
type KillResult struct {
	Task      string `json:"task"`
	Framework string `json:"framework"`
	Agent     string `json:"agent"`
	State     string `json:"state"` // the task's state when the kill was sent
}

// DrainResult is the body of a drain's answer.
type DrainResult struct {
	Agent    string     `json:"agent"`
	Hostname string     `json:"hostname"`
	Since    time.Time  `json:"since"`
	Deadline *time.Time `json:"deadline,omitempty"`
	// Already is true when the agent was draining before this call (the
	// deadline is replaced and the inverse offers sent again).
	Already bool `json:"already"`
	// Frameworks are those with live tasks on the agent, each asked to
	// move them (sorted by ID). Disconnected ones could not be told.
	Frameworks []DrainedFramework `json:"frameworks"`
}

// DrainedFramework is one framework asked to move its tasks.
type DrainedFramework struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Connected bool     `json:"connected"`
	Tasks     []string `json:"tasks"`
}

// UndrainResult is the body of an undrain's answer.
type UndrainResult struct {
	Agent string `json:"agent"`
	// Offering says whether offers resumed now; false when the agent is
	// disconnected (they resume when it re-registers) or no longer known.
	Offering bool `json:"offering"`
}

// opError is an operator request's failure with its HTTP status.
type opError struct {
	code int
	msg  string
}

func (e *opError) Error() string { return e.msg }

func opErrorf(code int, format string, args ...any) *opError {
	return &opError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (m *Master) registerOperator(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/tasks/{id}/kill", m.serveKill)
	mux.HandleFunc("POST /api/v1/agents/{id}/drain", m.serveDrain)
	mux.HandleFunc("POST /api/v1/agents/{id}/undrain", m.serveUndrain)
}

// operator finds who is calling an operator endpoint, or writes why the
// call is refused.
func (m *Master) operator(w http.ResponseWriter, r *http.Request) (string, bool) {
	if !m.aclEnforced() {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			httpError(w, http.StatusForbidden, "operator endpoints answer loopback clients only while the master has no ACL (start it with --acl and --credentials to operate from %s)", host)
			return "", false
		}
		return "", true
	}
	p, err := m.operatorAuth().AuthenticateHTTP(r)
	if err != nil {
		security.WriteHTTPError(w, err)
		return "", false
	}
	if p == "" {
		httpError(w, http.StatusUnauthorized, "the master enforces an ACL: send a bearer token (mezzo --token-file) of a principal it allows")
		return "", false
	}
	return p, true
}

// operatorAuth authenticates operators: OperatorCredentials' tokens, or
// client certificates, failures charged like the other servers'.
func (m *Master) operatorAuth() *security.Authenticator {
	return &security.Authenticator{Credentials: m.cfg.OperatorCredentials, Roles: []security.Role{security.RoleClient}, Failures: m.cfg.AuthFailures}
}

// operate runs f on the loop as principal and writes its result or error.
func (m *Master) operate(w http.ResponseWriter, r *http.Request, f func(ctx context.Context, principal string) (any, error)) {
	principal, ok := m.operator(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	ctx = security.WithPrincipal(ctx, principal)
	var out any
	err := m.call(ctx, func() error {
		if !m.acting(time.Now()) {
			return opErrorf(http.StatusServiceUnavailable, "master %s is not the leader; send operator calls to the leading master", m.cfg.MasterID)
		}
		var err error
		out, err = f(ctx, principal)
		return err
	})
	var oe *opError
	switch {
	case errors.As(err, &oe):
		httpError(w, oe.code, "%s", oe.msg)
	case security.IsDenied(err):
		httpError(w, http.StatusForbidden, "%v", err)
	case err != nil:
		httpError(w, http.StatusServiceUnavailable, "%v", err)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(out)
	}
}

// mayOperate checks an ACL action when one is enforced.
func (m *Master) mayOperate(ctx context.Context, principal string, action security.Action, object string) error {
	if !m.aclEnforced() {
		return nil
	}
	return m.authorize(ctx, principal, action, object)
}

func (m *Master) serveKill(w http.ResponseWriter, r *http.Request) {
	id := mezzo.TaskID(r.PathValue("id"))
	fwID := mezzo.FrameworkID(r.URL.Query().Get("framework"))
	m.operate(w, r, func(ctx context.Context, principal string) (any, error) {
		fw, t, err := m.findTask(ctx, principal, fwID, id)
		if err != nil {
			return nil, err
		}
		m.log.Info("operator kills task", "principal", principal, "framework", fw.id, "task", id, "agent", t.agent)
		m.kill(fw, id)
		return KillResult{Task: string(id), Framework: string(fw.id), Agent: string(t.agent), State: t.state.String()}, nil
	})
}

// findTask finds the live task an operator names among the frameworks it
// may kill tasks of (its own, and those the ACL grants it kill_tasks
// over); task IDs are unique per framework only, so an ID live in several
// needs the framework. Frameworks the operator may not act on are never
// looked at, so the answer is the same whether such a framework has the
// task live, ended, or not at all: an operator that may act on every
// framework is told the task is unknown or ended, any other is refused
// (403) in the same words for all three.
func (m *Master) findTask(ctx context.Context, principal string, fwID mezzo.FrameworkID, id mezzo.TaskID) (*framework, *task, error) {
	mayKill := map[string]bool{} // by framework principal
	mine := func(fw *framework) bool {
		owner := fw.info.Principal
		ok, seen := mayKill[owner]
		if !seen {
			ok = m.mayActFor(ctx, principal, security.KillTask, owner)
			mayKill[owner] = ok
		}
		return ok
	}
	var fws []*framework
	if fwID != "" {
		if fw := m.frameworks[fwID]; fw != nil && mine(fw) {
			fws = []*framework{fw}
		}
	} else {
		for _, fw := range m.sortedFrameworks() {
			if mine(fw) {
				fws = append(fws, fw)
			}
		}
	}
	var live []*framework
	var ended *task
	for _, fw := range fws {
		if t := fw.tasks[id]; t != nil {
			if t.state.Terminal() {
				ended = t
			} else {
				live = append(live, fw)
			}
		}
	}
	all := m.actsOnAll(ctx, principal, security.KillTask)
	switch {
	case len(live) == 1:
		return live[0], live[0].tasks[id], nil
	case len(live) > 1:
		names := make([]string, len(live))
		for i, fw := range live {
			names[i] = string(fw.id)
		}
		return nil, nil, opErrorf(http.StatusConflict, "task %s is live in several frameworks (%s): name one", id, strings.Join(names, ", "))
	case ended != nil:
		return nil, nil, opErrorf(http.StatusConflict, "task %s has already ended (%s)", id, ended.state)
	case !all:
		what := "task " + string(id)
		if fwID != "" {
			what += " of framework " + string(fwID)
		}
		m.log.Warn("not authorized", "principal", principal, "action", string(security.KillTask), "object", string(id), "framework", string(fwID),
			"why", "not a live task of a framework this principal may kill tasks of")
		return nil, nil, opErrorf(http.StatusForbidden, "%s", notActable(principal, security.KillTask, what))
	case fwID != "" && m.frameworks[fwID] == nil:
		return nil, nil, opErrorf(http.StatusNotFound, "no framework %s", fwID)
	case fwID != "":
		return nil, nil, opErrorf(http.StatusNotFound, "no task %s in framework %s", id, fwID)
	}
	return nil, nil, opErrorf(http.StatusNotFound, "no task %s", id)
}

// parseDeadline reads a drain's deadline: a duration from now ("30m") or
// an RFC 3339 time; "" is none.
func parseDeadline(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("deadline %q is in the past", s)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("deadline %q: want a duration such as 30m or an RFC 3339 time", s)
	}
	return t, nil
}

func (m *Master) serveDrain(w http.ResponseWriter, r *http.Request) {
	id := mezzo.AgentID(r.PathValue("id"))
	deadline, err := parseDeadline(r.URL.Query().Get("deadline"), time.Now())
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	m.operate(w, r, func(ctx context.Context, principal string) (any, error) {
		if err := m.mayOperate(ctx, principal, security.DrainAgent, ""); err != nil {
			return nil, err
		}
		return m.drain(id, deadline, principal)
	})
}

func (m *Master) serveUndrain(w http.ResponseWriter, r *http.Request) {
	id := mezzo.AgentID(r.PathValue("id"))
	m.operate(w, r, func(ctx context.Context, principal string) (any, error) {
		if err := m.mayOperate(ctx, principal, security.DrainAgent, ""); err != nil {
			return nil, err
		}
		return m.undrain(id, principal)
	})
}

// drain puts an agent under maintenance: its offers are withdrawn, it gets
// no new ones, and every framework with live tasks there gets an inverse
// offer listing them. Nothing is killed: moving is the frameworks' call
// (and the operator's, with kill, once the deadline comes).
func (m *Master) drain(id mezzo.AgentID, deadline time.Time, principal string) (DrainResult, error) {
	ag := m.agents[id]
	if ag == nil {
		return DrainResult{}, opErrorf(http.StatusNotFound, "no agent %s", id)
	}
	now := time.Now()
	old, already := m.drains[id]
	rec := drainRec{since: now, deadline: deadline}
	if already {
		rec.since = old.since
	}
	m.drains[id] = rec
	m.ha.reg.putDrain(id, drainRecord{Since: rec.since, Deadline: rec.deadline})
	withdrawn, err := m.alloc.DeactivateAgent(id)
	if err != nil {
		return DrainResult{}, opErrorf(http.StatusInternalServerError, "deactivate agent %s: %v", id, err)
	}
	m.rescinded(withdrawn, "agent draining for maintenance")

	res := DrainResult{Agent: string(id), Hostname: ag.info.Hostname, Since: rec.since, Already: already, Frameworks: m.askToMove(ag, deadline)}
	if !deadline.IsZero() {
		res.Deadline = &deadline
	}
	m.log.Info("agent draining", "principal", principal, "agent", id, "hostname", ag.info.Hostname,
		"deadline", deadline, "frameworks_asked", len(res.Frameworks), "offers_withdrawn", len(withdrawn))
	return res, nil
}

// askToMove sends every framework with live tasks on a draining agent an
// inverse offer listing them, and says who was asked.
func (m *Master) askToMove(ag *agentRec, deadline time.Time) []DrainedFramework {
	asked := []DrainedFramework{}
	byFw := map[mezzo.FrameworkID][]string{}
	var order []mezzo.FrameworkID
	for _, t := range ag.sortedTasks() { // sorted by framework, then task
		if t.state.Terminal() {
			continue
		}
		if _, ok := byFw[t.fw]; !ok {
			order = append(order, t.fw)
		}
		byFw[t.fw] = append(byFw[t.fw], string(t.info.ID))
	}
	var nanos int64
	if !deadline.IsZero() {
		nanos = deadline.UnixNano()
	}
	for _, fwID := range order {
		fw := m.frameworks[fwID]
		if fw == nil {
			continue
		}
		fw.send(&api.SchedulerEvent{Event: &api.SchedulerEvent_InverseOffer_{InverseOffer: &api.SchedulerEvent_InverseOffer{
			AgentId: string(ag.id), TaskIds: byFw[fwID], DeadlineUnixNanos: nanos,
		}}})
		asked = append(asked, DrainedFramework{ID: string(fwID), Name: fw.info.Name, Connected: fw.out != nil, Tasks: byFw[fwID]})
	}
	return asked
}

// undrain ends an agent's maintenance; a connected agent is offered again
// at once.
func (m *Master) undrain(id mezzo.AgentID, principal string) (UndrainResult, error) {
	if _, ok := m.drains[id]; !ok {
		if m.agents[id] == nil {
			return UndrainResult{}, opErrorf(http.StatusNotFound, "no agent %s", id)
		}
		return UndrainResult{}, opErrorf(http.StatusConflict, "agent %s is not draining", id)
	}
	delete(m.drains, id)
	m.ha.reg.delDrain(id)
	res := UndrainResult{Agent: string(id)}
	if ag := m.agents[id]; ag != nil && ag.out != nil {
		if err := m.alloc.ActivateAgent(id); err != nil {
			return res, opErrorf(http.StatusInternalServerError, "activate agent %s: %v", id, err)
		}
		m.markDirty(id)
		res.Offering = true
	}
	m.log.Info("agent undrained", "principal", principal, "agent", id, "offering", res.Offering)
	return res, nil
}

// keepDrained keeps a (re-)registering agent out of offers while it is
// under maintenance: registration activates it in the allocator. An agent
// new to this master (after a failover, or back after its removal) has its
// frameworks asked again to move their tasks: the inverse offers the
// drain sent may have gone with an earlier leader.
func (m *Master) keepDrained(ag *agentRec, fresh bool) {
	d, ok := m.drains[ag.id]
	if !ok {
		return
	}
	withdrawn, err := m.alloc.DeactivateAgent(ag.id)
	if err != nil {
		m.log.Error("keep drained agent out of offers", "agent", ag.id, "err", err)
		return
	}
	m.rescinded(withdrawn, "agent draining for maintenance")
	if fresh {
		if asked := m.askToMove(ag, d.deadline); len(asked) > 0 {
			m.log.Info("draining agent back; its frameworks asked again to move", "agent", ag.id, "frameworks_asked", len(asked))
		}
	}
}
