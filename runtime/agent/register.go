package agent

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Registration that fits any number of tasks. A re-registration lists
// every framework, executor and task the agent runs, and one gRPC message
// stops at the master's limit (4 MiB): an agent over it could never
// rejoin. So the list is slim, as Mesos's re-registration is (its Task
// messages carry no data and no command): each task goes with what the
// master keeps of it (ID, name, resources, labels, executor, user), not
// its data, command line or environment, which stay on the agent. And a
// list still over api.RegisterPartBytes goes in parts through
// AgentAPI.Register; smaller ones (nearly all, and every emulated agent)
// keep the single Subscribe message.

// eventStream is what Subscribe and Register streams have in common.
type eventStream interface {
	Recv() (*api.AgentEvent, error)
}

// recvLimit lets the agent take any event a master sends (api.AgentRecvLimit
// is far above the largest one the master's bounds allow).
var recvLimit = grpc.MaxCallRecvMsgSize(api.AgentRecvLimit)

// openRegistration registers req: in one Subscribe message if it fits,
// else in parts (a master that has no Register gets the one message).
func (a *Agent) openRegistration(ctx context.Context, req *api.AgentSubscribeRequest) (eventStream, error) {
	if proto.Size(req) <= api.RegisterPartBytes {
		return a.client.Subscribe(ctx, req, recvLimit)
	}
	parts := splitRegistration(req, api.RegisterPartBytes)
	a.log.Info("registering in parts", "parts", len(parts), "bytes", proto.Size(req), "tasks", len(req.Tasks))
	stream, err := a.sendParts(ctx, parts)
	if status.Code(err) == codes.Unimplemented {
		return a.client.Subscribe(ctx, req, recvLimit)
	}
	return stream, err
}

func (a *Agent) sendParts(ctx context.Context, parts []*api.AgentSubscribeRequest) (eventStream, error) {
	stream, err := a.client.Register(ctx, recvLimit)
	if err != nil {
		return nil, err
	}
	for i, p := range parts {
		if err := stream.Send(&api.AgentRegisterPart{Part: p, Last: i == len(parts)-1}); err != nil {
			if errors.Is(err, io.EOF) {
				// The master ended the call; Recv says why.
				_, err = stream.Recv()
			}
			return nil, err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	return stream, nil
}

// splitRegistration cuts req into parts of at most limit bytes each
// (one item over limit goes alone), the first with the agent's info and
// secret; merged in order (proto.Merge) they are req again.
func splitRegistration(req *api.AgentSubscribeRequest, limit int) []*api.AgentSubscribeRequest {
	cur := &api.AgentSubscribeRequest{Agent: req.Agent, AgentSecret: req.AgentSecret}
	size := proto.Size(cur)
	parts := []*api.AgentSubscribeRequest{cur}
	// room makes space for an item of n bytes encoded (plus its tag and
	// length, at most 6 bytes more), starting a new part when needed.
	room := func(n int) *api.AgentSubscribeRequest {
		n += 6
		if size+n > limit && size > 0 {
			cur = &api.AgentSubscribeRequest{}
			parts = append(parts, cur)
			size = 0
		}
		size += n
		return cur
	}
	for _, f := range req.Frameworks {
		p := room(proto.Size(f))
		p.Frameworks = append(p.Frameworks, f)
	}
	for _, e := range req.Executors {
		p := room(proto.Size(e))
		p.Executors = append(p.Executors, e)
	}
	for _, t := range req.Tasks {
		p := room(proto.Size(t))
		p.Tasks = append(p.Tasks, t)
	}
	return parts
}

// slimTask is what a re-registration says of a task: what the master
// keeps (api.TaskFromProto of it gives the resources, executor and user
// the master charges and shows), not the task's data or command line.
func slimTask(t mezzo.TaskInfo) *api.TaskInfo {
	p := &api.TaskInfo{TaskId: string(t.ID), Name: t.Name, AgentId: string(t.AgentID),
		Resources: api.ResourcesToProto(t.Resources), Labels: t.Labels}
	if t.Command != nil {
		p.Command = &api.CommandInfo{Shell: t.Command.Shell, User: t.Command.User}
	}
	if t.Executor != nil {
		p.Executor = slimExecutor(t.Executor)
	}
	return p
}

// slimExecutor is what a re-registration says of an executor.
func slimExecutor(e *mezzo.ExecutorInfo) *api.ExecutorInfo {
	p := &api.ExecutorInfo{ExecutorId: string(e.ID), Name: e.Name, Kind: e.Kind, Resources: api.ResourcesToProto(e.Resources)}
	if e.Command != nil {
		p.Command = &api.CommandInfo{Shell: e.Command.Shell, User: e.Command.User}
	}
	return p
}

// updateBatches cuts due updates into Updates calls of at most limit
// bytes each (an update over it goes alone).
func updateBatches(due []dueUpdate, limit int) [][]*api.AgentUpdateRequest {
	var out [][]*api.AgentUpdateRequest
	var cur []*api.AgentUpdateRequest
	size := 0
	for _, d := range due {
		u := &api.AgentUpdateRequest{FrameworkId: string(d.fw), Status: api.StatusToProto(d.status)}
		n := proto.Size(u) + 6
		if size+n > limit && len(cur) > 0 {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, u)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
