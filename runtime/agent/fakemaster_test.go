package agent

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// fakeMaster is a test-only AgentAPI server: it registers agents, pushes
// the events a test gives it, and records what agents send. With autoAck it
// acknowledges every update at once, as a scheduler would.
type fakeMaster struct {
	api.UnimplementedAgentAPIServer
	addr    string
	autoAck bool

	subscribes chan *api.AgentSubscribeRequest
	events     chan *api.AgentEvent
	updates    chan gotUpdate
	exits      chan *api.ExecutorExitedRequest

	// held keeps, in arrival order, updates nextUpdate read while waiting
	// for another task. Pushing them back onto updates would put them
	// behind ones that arrived meanwhile, so a task's FAILED could be read
	// before its RUNNING. Only the test goroutine touches it.
	held []gotUpdate

	mu    sync.Mutex
	next  int
	parts int   // parts of Register calls received
	epoch int64 // sent as Registered.master_epoch
}

type gotUpdate struct {
	fw     mezzo.FrameworkID
	status mezzo.TaskStatus
}

func startFakeMaster(t *testing.T, autoAck bool) *fakeMaster {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMaster{addr: lis.Addr().String(), autoAck: autoAck,
		subscribes: make(chan *api.AgentSubscribeRequest, 8), events: make(chan *api.AgentEvent, 64),
		updates: make(chan gotUpdate, 256), exits: make(chan *api.ExecutorExitedRequest, 64)}
	srv := grpc.NewServer()
	api.RegisterAgentAPIServer(srv, m)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return m
}

// Register takes a registration in parts, merged as the master does, and
// goes on as Subscribe; parts counts the calls' parts.
func (m *fakeMaster) Register(s grpc.BidiStreamingServer[api.AgentRegisterPart, api.AgentEvent]) error {
	req := &api.AgentSubscribeRequest{}
	for {
		p, err := s.Recv()
		if err != nil {
			return err
		}
		m.mu.Lock()
		m.parts++
		m.mu.Unlock()
		proto.Merge(req, p.GetPart())
		if p.GetLast() {
			return m.Subscribe(req, s)
		}
	}
}

// Subscribe registers the agent; a new one gets the secret "secret-N".
func (m *fakeMaster) Subscribe(req *api.AgentSubscribeRequest, s grpc.ServerStreamingServer[api.AgentEvent]) error {
	id := req.GetAgent().GetAgentId()
	secret := ""
	m.mu.Lock()
	m.next++
	if id == "" {
		id = fmt.Sprintf("agent-%d", m.next)
		secret = fmt.Sprintf("secret-%d", m.next)
	}
	session := fmt.Sprintf("session-%d", m.next)
	gen := m.next
	epoch := m.epoch
	m.mu.Unlock()
	m.subscribes <- req
	if err := s.Send(&api.AgentEvent{Event: &api.AgentEvent_Registered_{Registered: &api.AgentEvent_Registered{
		AgentId: id, SessionId: session, MasterId: "fake", MasterEpoch: epoch, AgentSecret: secret}}}); err != nil {
		return err
	}
	for {
		select {
		case ev := <-m.events:
			// An event taken by a stream that is already dead (or
			// superseded by a re-subscription) goes back for the live one.
			m.mu.Lock()
			stale := gen != m.next
			m.mu.Unlock()
			if stale || s.Context().Err() != nil {
				m.events <- ev
				return nil
			}
			if err := s.Send(ev); err != nil {
				m.events <- ev
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

func (m *fakeMaster) Update(_ context.Context, req *api.AgentUpdateRequest) (*api.Empty, error) {
	if req.GetHeader().GetSessionId() == "" {
		return nil, status.Error(codes.FailedPrecondition, "no session")
	}
	st, err := api.StatusFromProto(req.Status)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	m.updates <- gotUpdate{fw: mezzo.FrameworkID(req.FrameworkId), status: st}
	if m.autoAck {
		m.events <- ackEvent(mezzo.FrameworkID(req.FrameworkId), st)
	}
	return &api.Empty{}, nil
}

// Updates is the agent's batched form of Update.
func (m *fakeMaster) Updates(ctx context.Context, req *api.AgentUpdatesRequest) (*api.Empty, error) {
	for _, u := range req.GetUpdates() {
		u.Header = req.GetHeader()
		if _, err := m.Update(ctx, u); err != nil {
			return nil, err
		}
	}
	return &api.Empty{}, nil
}

func (m *fakeMaster) ExecutorExited(_ context.Context, req *api.ExecutorExitedRequest) (*api.Empty, error) {
	m.exits <- req
	return &api.Empty{}, nil
}

func (m *fakeMaster) Pong(context.Context, *api.PongRequest) (*api.Empty, error) {
	return &api.Empty{}, nil
}

func (m *fakeMaster) Message(context.Context, *api.AgentMessageRequest) (*api.Empty, error) {
	return &api.Empty{}, nil
}

func ackEvent(fw mezzo.FrameworkID, st mezzo.TaskStatus) *api.AgentEvent {
	return &api.AgentEvent{Event: &api.AgentEvent_Acknowledge_{Acknowledge: &api.AgentEvent_Acknowledge{
		FrameworkId: string(fw), TaskId: string(st.TaskID), Uuid: st.UUID}}}
}

func launchEvent1(fw mezzo.FrameworkID, tasks ...mezzo.TaskInfo) *api.AgentEvent {
	l := &api.AgentEvent_LaunchTasks{Framework: api.FrameworkToProto(mezzo.FrameworkInfo{ID: fw, Name: "test"})}
	for _, t := range tasks {
		l.Tasks = append(l.Tasks, api.TaskToProto(t))
	}
	return &api.AgentEvent{Event: &api.AgentEvent_LaunchTasks_{LaunchTasks: l}}
}

func killEvent(fw mezzo.FrameworkID, id mezzo.TaskID) *api.AgentEvent {
	return &api.AgentEvent{Event: &api.AgentEvent_KillTask_{KillTask: &api.AgentEvent_KillTask{FrameworkId: string(fw), TaskId: string(id)}}}
}

// nextUpdate waits for the next update the master receives for task, in
// the order received. Updates of other tasks are held for later calls.
func (m *fakeMaster) nextUpdate(t *testing.T, task mezzo.TaskID) mezzo.TaskStatus {
	t.Helper()
	for i, u := range m.held {
		if u.status.TaskID == task {
			m.held = append(m.held[:i], m.held[i+1:]...)
			return u.status
		}
	}
	deadline := time.After(15 * time.Second)
	for {
		select {
		case u := <-m.updates:
			if u.status.TaskID == task {
				return u.status
			}
			m.held = append(m.held, u)
		case <-deadline:
			t.Fatalf("no update for task %s within 15s", task)
		}
	}
}
