package master

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// schedulerServer is the SchedulerAPI front: each call becomes a closure
// run on the master's loop.
type schedulerServer struct {
	api.UnimplementedSchedulerAPIServer
	m *Master
}

var empty = &api.Empty{}

func (s *schedulerServer) Subscribe(req *api.SubscribeRequest, stream api.SchedulerAPI_SubscribeServer) error {
	m := s.m
	principal := security.PrincipalFrom(stream.Context())
	if err := m.limitSubscribe(principal); err != nil {
		return err
	}
	if err := api.ValidateFrameworkInfo(req.GetFramework()); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	info, err := api.FrameworkFromProto(req.GetFramework())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if err := m.validFramework(&info, principal); err != nil {
		return err
	}
	if err := m.authorize(stream.Context(), principal, security.RegisterFramework, info.RoleOrDefault()); err != nil {
		return err
	}
	m.awaitLeading(stream.Context())
	out := newOutbox[*api.SchedulerEvent]()
	var id mezzo.FrameworkID
	var streamID string
	err = m.call(stream.Context(), func() error {
		now := time.Now()
		if !m.acting(now) {
			return m.notLeader()
		}
		if err := m.maySubscribe(stream.Context(), info, now); err != nil {
			return err
		}
		fw, err := m.subscribeFramework(info, out)
		if err != nil {
			return err
		}
		m.ha.reg.putFramework(fw.info, fw.info.Principal, false)
		id, streamID = fw.id, fw.streamID
		return nil
	})
	if err != nil {
		return err
	}
	defer m.post(func() { m.frameworkGone(id, streamID) })
	return pump(stream.Context(), out, stream.Send)
}

// onFramework runs f on the loop for the framework the header names, if
// the caller is the framework's principal.
func (s *schedulerServer) onFramework(ctx context.Context, h *api.CallHeader, f func(fw *framework) error) (*api.Empty, error) {
	return s.onFrameworkAs(ctx, h, "", f)
}

// onFrameworkAs is onFramework for calls that another principal may make
// when the ACL grants it action over the framework's principal.
func (s *schedulerServer) onFrameworkAs(ctx context.Context, h *api.CallHeader, action security.Action, f func(fw *framework) error) (*api.Empty, error) {
	err := s.m.call(ctx, func() error {
		if !s.m.acting(time.Now()) {
			return s.m.notLeader()
		}
		fw, err := s.m.frameworkFor(ctx, h, action)
		if err != nil {
			return err
		}
		return f(fw)
	})
	if err != nil {
		return nil, err
	}
	return empty, nil
}

func (s *schedulerServer) Accept(ctx context.Context, req *api.AcceptRequest) (*api.Empty, error) {
	return s.onFramework(ctx, req.Header, func(fw *framework) error { s.m.accept(fw, req); return nil })
}

func (s *schedulerServer) Decline(ctx context.Context, req *api.DeclineRequest) (*api.Empty, error) {
	return s.onFramework(ctx, req.Header, func(fw *framework) error { return s.m.decline(fw, req) })
}

func (s *schedulerServer) Revive(ctx context.Context, req *api.ReviveRequest) (*api.Empty, error) {
	return s.onFramework(ctx, req.Header, func(fw *framework) error {
		s.m.allDirty = true
		return s.m.alloc.Revive(fw.id)
	})
}

func (s *schedulerServer) Suppress(ctx context.Context, req *api.SuppressRequest) (*api.Empty, error) {
	return s.onFramework(ctx, req.Header, func(fw *framework) error { return s.m.alloc.Suppress(fw.id) })
}

func (s *schedulerServer) Kill(ctx context.Context, req *api.KillRequest) (*api.Empty, error) {
	return s.onFrameworkAs(ctx, req.Header, security.KillTask, func(fw *framework) error { s.m.kill(fw, mezzo.TaskID(req.TaskId)); return nil })
}

func (s *schedulerServer) Acknowledge(ctx context.Context, req *api.AcknowledgeRequest) (*api.Empty, error) {
	return s.onFramework(ctx, req.Header, func(fw *framework) error { return s.m.acknowledge(fw, req) })
}

func (s *schedulerServer) Reconcile(ctx context.Context, req *api.ReconcileRequest) (*api.Empty, error) {
	return s.onFramework(ctx, req.Header, func(fw *framework) error { s.m.reconcile(fw, req); return nil })
}

func (s *schedulerServer) Message(ctx context.Context, req *api.SchedulerMessageRequest) (*api.Empty, error) {
	return s.onFramework(ctx, req.Header, func(fw *framework) error {
		ag := s.m.agents[mezzo.AgentID(req.AgentId)]
		if ag == nil || !ag.send(&api.AgentEvent{Event: &api.AgentEvent_Message_{Message: &api.AgentEvent_Message{
			FrameworkId: string(fw.id), ExecutorId: req.ExecutorId, Data: req.Data,
		}}}) {
			return status.Errorf(codes.NotFound, "agent %q is not connected", req.AgentId)
		}
		return nil
	})
}

func (s *schedulerServer) Teardown(ctx context.Context, req *api.TeardownRequest) (*api.Empty, error) {
	return s.onFrameworkAs(ctx, req.Header, security.TeardownFramework, func(fw *framework) error {
		s.m.removeFramework(fw, "torn down by its scheduler")
		return nil
	})
}

// agentServer is the AgentAPI front.
type agentServer struct {
	api.UnimplementedAgentAPIServer
	m *Master
}

func (s *agentServer) Subscribe(req *api.AgentSubscribeRequest, stream api.AgentAPI_SubscribeServer) error {
	principal := security.PrincipalFrom(stream.Context())
	if err := s.m.authorize(stream.Context(), principal, security.RegisterAgent, ""); err != nil {
		return err
	}
	a, err := s.admit(stream.Context(), req, principal)
	if err != nil {
		return err
	}
	return s.serve(a, stream)
}

// Register is Subscribe with the registration in parts (register.go).
func (s *agentServer) Register(stream api.AgentAPI_RegisterServer) error {
	principal := security.PrincipalFrom(stream.Context())
	if err := s.m.authorize(stream.Context(), principal, security.RegisterAgent, ""); err != nil {
		return err
	}
	a, err := s.admitStaged(stream, principal)
	if err != nil {
		return err
	}
	return s.serve(a, stream)
}

// admitStaged receives a registration in parts and admits it. Its parts
// count against the principal's budget until the registration is applied
// or refused, whichever way admit returns, and not for as long as the
// agent stays connected.
func (s *agentServer) admitStaged(stream api.AgentAPI_RegisterServer, principal string) (admission, error) {
	req, release, err := s.m.receiveRegistration(stream, principal)
	if err != nil {
		return admission{}, err
	}
	defer release()
	return s.admit(stream.Context(), req, principal)
}

// admission is an agent's registration as the loop applied it.
type admission struct {
	out     *outbox[*api.AgentEvent]
	id      mezzo.AgentID
	session string
}

// admit registers the agent. Nothing of a registration that fails its
// checks (malformed info, another principal's agent, a wrong secret) is
// applied.
func (s *agentServer) admit(ctx context.Context, req *api.AgentSubscribeRequest, principal string) (admission, error) {
	m := s.m
	if err := api.ValidateAgentInfo(req.GetAgent()); err != nil {
		return admission{}, status.Error(codes.InvalidArgument, err.Error())
	}
	m.vetReport(req)
	m.awaitLeading(ctx)
	a := admission{out: newOutbox[*api.AgentEvent]()}
	err := m.call(ctx, func() error {
		if !m.acting(time.Now()) {
			return m.notLeader()
		}
		if old := m.agents[mezzo.AgentID(req.GetAgent().GetAgentId())]; old != nil {
			if err := m.checkAgent(ctx, old); err != nil {
				return err
			}
		}
		key, issue, err := m.agentCredential(ctx, req)
		if err != nil {
			return err
		}
		ag, err := m.subscribeAgent(req, a.out, key, issue)
		if err != nil {
			return err
		}
		ag.principal = principal
		m.publishLiveness(ag)
		a.id, a.session = ag.id, ag.sessionID
		return nil
	})
	return a, err
}

// agentStream is what Subscribe and Register have in common.
type agentStream interface {
	Context() context.Context
	Send(*api.AgentEvent) error
}

// serve streams an admitted agent's events until either side goes away.
func (s *agentServer) serve(a admission, stream agentStream) error {
	defer s.m.post(func() { s.m.agentGone(a.id, a.session) })
	return pump(stream.Context(), a.out, stream.Send)
}

func (s *agentServer) onAgent(ctx context.Context, h *api.AgentHeader, f func(ag *agentRec) error) (*api.Empty, error) {
	err := s.m.call(ctx, func() error {
		if !s.m.acting(time.Now()) {
			return s.m.notLeader()
		}
		ag, err := s.m.authAgent(ctx, h)
		if err != nil {
			return err
		}
		return f(ag)
	})
	if err != nil {
		return nil, err
	}
	return empty, nil
}

func (s *agentServer) Update(ctx context.Context, req *api.AgentUpdateRequest) (*api.Empty, error) {
	return s.onAgent(ctx, req.Header, func(ag *agentRec) error { return s.m.agentUpdate(ag, req) })
}

func (s *agentServer) Message(ctx context.Context, req *api.AgentMessageRequest) (*api.Empty, error) {
	return s.onAgent(ctx, req.Header, func(ag *agentRec) error {
		if fw := s.m.frameworks[mezzo.FrameworkID(req.FrameworkId)]; fw != nil {
			fw.send(&api.SchedulerEvent{Event: &api.SchedulerEvent_Message_{Message: &api.SchedulerEvent_Message{
				AgentId: string(ag.id), ExecutorId: req.ExecutorId, Data: req.Data,
			}}})
		}
		return nil
	})
}

func (s *agentServer) ExecutorExited(ctx context.Context, req *api.ExecutorExitedRequest) (*api.Empty, error) {
	return s.onAgent(ctx, req.Header, func(ag *agentRec) error { s.m.executorExited(ag, req); return nil })
}

// Pong is answered off the loop (liveness.go).
func (s *agentServer) Pong(ctx context.Context, req *api.PongRequest) (*api.Empty, error) {
	if err := s.m.pong(ctx, req.GetHeader()); err != nil {
		return nil, err
	}
	return empty, nil
}

func (s *agentServer) Unregister(ctx context.Context, req *api.UnregisterRequest) (*api.Empty, error) {
	return s.onAgent(ctx, req.Header, func(ag *agentRec) error {
		s.m.removeAgent(ag, "agent "+string(ag.id)+" shut down")
		return nil
	})
}
