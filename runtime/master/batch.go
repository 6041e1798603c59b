package master

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// Calls runs a framework's batch of calls in order in one turn of the
// loop. Batching is what keeps the per-task cost of a busy framework low:
// one round trip, one closure and one wake-up of the loop for every call
// its callbacks made while the previous batch was in flight. A refused
// call is logged and skipped; it does not fail the batch, because the
// driver sent it without waiting (mezzo.Driver's calls do not block on the
// master) and the caller has nobody to hand the error to.
func (s *schedulerServer) Calls(ctx context.Context, req *api.CallBatch) (*api.Empty, error) {
	m := s.m
	// Kill is the one call another principal may make for a framework;
	// a batch that carries one is checked for that action.
	action := security.Action("")
	for _, c := range req.GetCalls() {
		if c.GetKill() != nil {
			action = security.KillTask
		}
	}
	return s.onFrameworkAs(ctx, req.GetHeader(), action, func(fw *framework) error {
		// Another principal passed for its kill_tasks grant: that grant
		// covers the kills, not whatever else rides in the batch.
		if p := security.PrincipalFrom(ctx); p != fw.info.Principal {
			for i, c := range req.GetCalls() {
				if c.GetKill() == nil {
					m.log.Warn("not authorized", "principal", p, "action", "call", "object", string(fw.id), "owner", fw.info.Principal, "index", i)
					return status.Errorf(codes.PermissionDenied, "not authorized: principal %s may only kill tasks of framework %s, and call %d of the batch is not a kill", quotePrincipal(p), fw.id, i)
				}
			}
		}
		for i, c := range req.GetCalls() {
			if err := m.runCall(fw, c); err != nil {
				m.log.Debug("batched call refused", "framework", fw.id, "index", i, "err", err)
			}
		}
		return nil
	})
}

// runCall runs one call of a batch on the loop.
func (m *Master) runCall(fw *framework, c *api.Call) error {
	switch c := c.GetCall().(type) {
	case *api.Call_Accept:
		m.accept(fw, c.Accept)
		return nil
	case *api.Call_Decline:
		return m.decline(fw, c.Decline)
	case *api.Call_Revive:
		m.allDirty = true
		return m.alloc.Revive(fw.id)
	case *api.Call_Suppress:
		return m.alloc.Suppress(fw.id)
	case *api.Call_Acknowledge:
		return m.acknowledge(fw, c.Acknowledge)
	case *api.Call_Kill:
		m.kill(fw, mezzo.TaskID(c.Kill.GetTaskId()))
		return nil
	case *api.Call_Reconcile:
		m.reconcile(fw, c.Reconcile)
		return nil
	default:
		return status.Error(codes.InvalidArgument, "empty call in batch")
	}
}

// Updates applies an agent's due status updates in order in one turn of
// the loop (see Calls for why batching matters). An update the master
// refuses is logged and skipped; the agent resends it like any update not
// acknowledged.
func (s *agentServer) Updates(ctx context.Context, req *api.AgentUpdatesRequest) (*api.Empty, error) {
	m := s.m
	return s.onAgent(ctx, req.GetHeader(), func(ag *agentRec) error {
		for _, u := range req.GetUpdates() {
			if err := m.agentUpdate(ag, u); err != nil {
				m.log.Debug("batched status update refused", "agent", ag.id, "err", err)
			}
		}
		return nil
	})
}
