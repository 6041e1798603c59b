package master

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// authorize asks the configured Authorizer and logs a denial with the
// principal, the action and the object (the caller gets the same words as
// a PermissionDenied error).
func (m *Master) authorize(ctx context.Context, principal string, action security.Action, object string) error {
	err := m.cfg.Authorizer.Allow(ctx, principal, action, object)
	if err != nil {
		m.log.Warn("not authorized", "principal", principal, "action", string(action), "object", object)
		if !security.IsDenied(err) {
			return status.Errorf(codes.PermissionDenied, "%v", err)
		}
	}
	return err
}

// maySubscribe decides, on the loop, whether info.Principal (the caller,
// set by validFramework) may subscribe info: a new framework while the
// principal is under its cap; a registered one only when it is the
// caller's, and in a role the caller may still register in (the role the
// framework holds, which the request's role does not change).
//
// An ID the master does not know (never registered here, removed and
// forgotten, or not yet rebuilt from its agents) is never granted to an
// authenticated principal on its scheduler's word: only the registry and
// the agents, whose records a master wrote when it authenticated the
// owner, say whose a framework is. It gets the refusal another
// principal's framework gets, so a stranger cannot tell the two apart;
// only within learnUntil is it asked to retry instead, while the agents
// that know the framework may still be on their way back. Without
// authentication (the anonymous principal, no ACL) every caller is every
// framework's owner and, as in Mesos, a failed-over scheduler is taken
// back under the ID it names.
func (m *Master) maySubscribe(ctx context.Context, info mezzo.FrameworkInfo, now time.Time) error {
	p := info.Principal
	if info.ID == "" {
		return m.underFrameworkCap(p)
	}
	fw := m.frameworks[info.ID]
	if fw == nil {
		if gone := m.removed[info.ID]; gone != nil && gone.info.Principal == p {
			return status.Errorf(codes.NotFound, "framework %s was removed; subscribe without an ID to register anew", info.ID)
		}
		if p == "" && !m.aclEnforced() {
			return m.underFrameworkCap(p)
		}
		if now.Before(m.learnUntil) {
			return status.Errorf(codes.Unavailable, "framework %s is not known to this master yet: it learns frameworks from the registry and from their agents as they re-register (for %v after it starts leading); retry",
				info.ID, m.cfg.HA.RecoveryTimeout)
		}
		m.log.Warn("not authorized", "principal", p, "action", "subscribe", "object", string(info.ID), "why", "no such framework on this master")
		return errNotYours(p, info.ID)
	}
	if owner := fw.info.Principal; owner != p {
		why := "the framework belongs to another principal"
		if owner == "" {
			why = "the framework was rebuilt from its agents with no principal recorded (its tasks were launched by a master that did not record owners), so no principal may subscribe it; it is removed when its failover timeout ends"
		}
		m.log.Warn("not authorized", "principal", p, "action", "subscribe", "object", string(info.ID), "owner", owner, "why", why)
		return errNotYours(p, info.ID)
	}
	if held := fw.info.RoleOrDefault(); held != info.RoleOrDefault() {
		return m.authorize(ctx, p, security.RegisterFramework, held)
	}
	return nil
}

// errNotYours refuses a subscription to a framework ID the caller does not
// own, in the same words whether the framework exists or not.
func errNotYours(principal string, id mezzo.FrameworkID) error {
	return status.Errorf(codes.PermissionDenied, "not authorized: principal %s has no framework %s on this master (never registered here, removed, or another principal's); subscribe without an ID to register anew",
		quotePrincipal(principal), id)
}

// frameworkFor finds the framework a call names, for its own principal,
// or for action (kill_tasks, teardown_frameworks) for a principal the ACL
// grants it over the framework's principal; then it checks the call comes
// on the framework's current subscription. A caller that may not act on
// the framework gets the same answer whether it exists or not: a stranger
// learns nothing from its calls. Only a caller that may act on every
// framework (the anonymous principal of a cluster without authentication,
// or one the ACL grants action over ANY) is told an ID is unknown.
func (m *Master) frameworkFor(ctx context.Context, h *api.CallHeader, action security.Action) (*framework, error) {
	p := security.PrincipalFrom(ctx)
	id := mezzo.FrameworkID(h.GetFrameworkId())
	fw := m.frameworks[id]
	switch {
	case fw != nil && m.mayActFor(ctx, p, action, fw.info.Principal):
	case fw == nil && m.actsOnAll(ctx, p, action):
		return nil, status.Errorf(codes.NotFound, "framework %q is not registered", id)
	default:
		owner := "(none: no such framework)"
		if fw != nil {
			owner = fw.info.Principal
		}
		m.log.Warn("not authorized", "principal", p, "action", actionName(action), "object", string(id), "owner", owner)
		return nil, status.Error(codes.PermissionDenied, notActable(p, action, "framework "+string(id)))
	}
	if fw.out == nil || fw.streamID != h.GetStreamId() {
		return nil, status.Errorf(codes.FailedPrecondition, "framework %s: stream %q is not its current subscription", fw.id, h.GetStreamId())
	}
	return fw, nil
}

// aclEnforced says whether an ACL decides who may do what (Config's
// Authorizer is not the allow-everything one, its default).
func (m *Master) aclEnforced() bool {
	switch m.cfg.Authorizer.(type) {
	case security.AllowAll, *security.AllowAll:
		return false
	}
	return true
}

// mayActFor says whether principal may act for the frameworks of owner:
// its own, and for action ("" is a call only the owner makes) those of
// the principals the ACL grants it action over.
func (m *Master) mayActFor(ctx context.Context, principal string, action security.Action, owner string) bool {
	return owner == principal || action != "" && m.cfg.Authorizer.Allow(ctx, principal, action, owner) == nil
}

// actsOnAll says whether principal may take action on every framework, so
// that whether one exists is its business: the anonymous principal (no
// authentication: everyone owns everything), or one granted action over
// ANY framework principal.
func (m *Master) actsOnAll(ctx context.Context, principal string, action security.Action) bool {
	if principal == "" && !m.aclEnforced() {
		return true
	}
	return action != "" && m.cfg.Authorizer.Allow(ctx, principal, action, security.Any) == nil
}

// notActable is the refusal of a call on what (a framework, a task) the
// caller may not act on, in words that state the rule, not the facts: they
// do not depend on whether it exists, is live or has ended, nor on whose
// it is.
func notActable(principal string, action security.Action, what string) string {
	if action == "" {
		return fmt.Sprintf("not authorized: principal %s may not act for %s: a principal acts only for its own frameworks", quotePrincipal(principal), what)
	}
	return fmt.Sprintf("not authorized: principal %s may not %s for %s: a principal may do so only in its own frameworks and in those of principals an ACL rule grants it %s over",
		quotePrincipal(principal), action, what, action)
}

func actionName(a security.Action) string {
	if a == "" {
		return "call"
	}
	return string(a)
}

// quotePrincipal names a principal in a message as the ACL's denials do.
func quotePrincipal(p string) string {
	if p == "" {
		return "(anonymous)"
	}
	return fmt.Sprintf("%q", p)
}

// taskUser is the OS user a task runs as: its command's, its executor
// command's, or its framework's.
func taskUser(fw mezzo.FrameworkInfo, t mezzo.TaskInfo) string {
	switch {
	case t.Command != nil && t.Command.User != "":
		return t.Command.User
	case t.Executor != nil && t.Executor.Command != nil && t.Executor.Command.User != "":
		return t.Executor.Command.User
	}
	return fw.User
}

// authorizeTaskUser checks run_tasks for the task's user and writes the
// authorized user into the task's command (or its executor's) so the
// agent runs it as that user. It returns why the task may not run, or "".
func (m *Master) authorizeTaskUser(fw *framework, t *mezzo.TaskInfo) string {
	user := taskUser(fw.info, *t)
	if err := m.authorize(context.Background(), fw.info.Principal, security.RunTask, user); err != nil {
		return fmt.Sprintf("task %q: %v", t.ID, err)
	}
	if user == "" {
		return ""
	}
	switch {
	case t.Command != nil:
		c := *t.Command
		c.User = user
		t.Command = &c
	case t.Executor != nil && t.Executor.Command != nil:
		e := *t.Executor
		c := *e.Command
		c.User = user
		e.Command = &c
		t.Executor = &e
	}
	return ""
}

// checkAgent lets only the principal that registered an agent speak for
// it.
func (m *Master) checkAgent(ctx context.Context, ag *agentRec) error {
	return m.checkAgentPrincipal(ctx, ag.id, ag.principal)
}

// checkAgentPrincipal refuses a call about agent id from a principal other
// than owner, the one that registered it.
func (m *Master) checkAgentPrincipal(ctx context.Context, id mezzo.AgentID, owner string) error {
	if p := security.PrincipalFrom(ctx); p != owner {
		m.log.Warn("not authorized", "principal", p, "action", "agent call", "object", string(id), "owner", owner)
		return status.Errorf(codes.PermissionDenied, "not authorized: agent %s belongs to another principal than %q", id, p)
	}
	return nil
}

// LimitedMethods are the unary calls worth rate-limiting per principal
// (see security.Limiter): every scheduler call that makes the loop work.
// Subscriptions have a limiter of their own (Config.SubscribeRate).
var LimitedMethods = []string{
	api.SchedulerAPI_Accept_FullMethodName,
	api.SchedulerAPI_Decline_FullMethodName,
	api.SchedulerAPI_Revive_FullMethodName,
	api.SchedulerAPI_Suppress_FullMethodName,
	api.SchedulerAPI_Kill_FullMethodName,
	api.SchedulerAPI_Reconcile_FullMethodName,
	api.SchedulerAPI_Message_FullMethodName,
	api.SchedulerAPI_Teardown_FullMethodName,
	api.SchedulerAPI_Calls_FullMethodName,
}

// AgentLimitedMethods are the agents' unary calls, rate-limited per
// principal with a limiter of their own: agents often share one principal
// (one certificate for all, as `mezzo certs init` makes), so its rate must
// cover every agent's pongs and status updates (a pong a second each), and
// only a runaway client meets it.
var AgentLimitedMethods = []string{
	api.AgentAPI_Update_FullMethodName,
	api.AgentAPI_Updates_FullMethodName,
	api.AgentAPI_Message_FullMethodName,
	api.AgentAPI_ExecutorExited_FullMethodName,
	api.AgentAPI_Pong_FullMethodName,
	api.AgentAPI_Unregister_FullMethodName,
}
