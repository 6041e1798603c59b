package master

import (
	"context"
	"fmt"

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

// mayResubscribe refuses to hand a registered framework to a principal
// other than the one that registered it: its ID and stream are not
// secrets enough to take over someone else's tasks.
func (m *Master) mayResubscribe(id mezzo.FrameworkID, principal string) error {
	fw := m.frameworks[id]
	if fw == nil || fw.principal == principal {
		return nil
	}
	m.log.Warn("not authorized", "principal", principal, "action", "subscribe", "object", string(id), "owner", fw.principal)
	return status.Errorf(codes.PermissionDenied, "not authorized: framework %s belongs to another principal than %q", id, principal)
}

// checkCaller lets the framework's own principal make any call on it;
// another principal only the calls whose action (kill_tasks,
// teardown_frameworks) the ACL grants it over the owner's frameworks.
func (m *Master) checkCaller(ctx context.Context, fw *framework, action security.Action) error {
	principal := security.PrincipalFrom(ctx)
	if principal == fw.principal {
		return nil
	}
	if action == "" {
		m.log.Warn("not authorized", "principal", principal, "action", "call", "object", string(fw.id), "owner", fw.principal)
		return status.Errorf(codes.PermissionDenied, "not authorized: principal %q may not act for framework %s", principal, fw.id)
	}
	return m.authorize(ctx, principal, action, fw.principal)
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
	if err := m.authorize(context.Background(), fw.principal, security.RunTask, user); err != nil {
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

// LimitedMethods are the calls worth rate-limiting per principal (see
// security.Limiter): every scheduler call that makes the loop work, and
// subscriptions are already bounded by MaxConcurrentStreams.
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
