package master_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
)

// fuzzCluster is a real master with one framework and one agent whose
// sessions the fuzzer's requests may borrow, so that requests get past
// the session checks into validation.
type fuzzCluster struct {
	m      *master.Master
	addr   string
	sched  api.SchedulerAPIClient
	agent  api.AgentAPIClient
	s      *mastertest.Scheduler
	agentH *api.AgentHeader
}

func newFuzzCluster(f *testing.F) *fuzzCluster {
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", PingInterval: time.Hour, AllocationInterval: 50 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	addr, err := m.Start(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(m.Stop)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = conn.Close() })
	c := &fuzzCluster{m: m, addr: addr, sched: api.NewSchedulerAPIClient(conn), agent: api.NewAgentAPIClient(conn)}
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	stream, err := c.agent.Subscribe(ctx, &api.AgentSubscribeRequest{Agent: &api.AgentInfo{Hostname: "fuzz",
		Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:8;mem:4096;ports:[31000-31100]"))}})
	if err != nil {
		f.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil {
		f.Fatal(err)
	}
	c.agentH = &api.AgentHeader{AgentId: ev.GetRegistered().GetAgentId(), SessionId: ev.GetRegistered().GetSessionId()}
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()
	c.s = mastertest.SubscribeWith(f, addr, mezzo.FrameworkInfo{Name: "fuzz"})
	return c
}

// fuzzMethods are the master's request-taking methods; the first input
// byte picks one, the rest is the request's wire form.
var fuzzMethods = []struct {
	name string
	msg  func() proto.Message
	call func(ctx context.Context, c *fuzzCluster, m proto.Message) error
}{
	{"Accept", func() proto.Message { return &api.AcceptRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.sched.Accept(ctx, m.(*api.AcceptRequest))
		return err
	}},
	{"Decline", func() proto.Message { return &api.DeclineRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.sched.Decline(ctx, m.(*api.DeclineRequest))
		return err
	}},
	{"Revive", func() proto.Message { return &api.ReviveRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.sched.Revive(ctx, m.(*api.ReviveRequest))
		return err
	}},
	{"Suppress", func() proto.Message { return &api.SuppressRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.sched.Suppress(ctx, m.(*api.SuppressRequest))
		return err
	}},
	{"Kill", func() proto.Message { return &api.KillRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.sched.Kill(ctx, m.(*api.KillRequest))
		return err
	}},
	{"Acknowledge", func() proto.Message { return &api.AcknowledgeRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.sched.Acknowledge(ctx, m.(*api.AcknowledgeRequest))
		return err
	}},
	{"Reconcile", func() proto.Message { return &api.ReconcileRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.sched.Reconcile(ctx, m.(*api.ReconcileRequest))
		return err
	}},
	{"SchedulerMessage", func() proto.Message { return &api.SchedulerMessageRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.sched.Message(ctx, m.(*api.SchedulerMessageRequest))
		return err
	}},
	{"Subscribe", func() proto.Message { return &api.SubscribeRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		req := m.(*api.SubscribeRequest)
		if req.GetFramework().GetFrameworkId() == string(c.s.ID) {
			return nil // would replace the session the other requests borrow
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := c.sched.Subscribe(ctx, req)
		if err == nil {
			_, err = st.Recv()
		}
		return err
	}},
	{"AgentUpdate", func() proto.Message { return &api.AgentUpdateRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.agent.Update(ctx, m.(*api.AgentUpdateRequest))
		return err
	}},
	{"AgentMessage", func() proto.Message { return &api.AgentMessageRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.agent.Message(ctx, m.(*api.AgentMessageRequest))
		return err
	}},
	{"ExecutorExited", func() proto.Message { return &api.ExecutorExitedRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.agent.ExecutorExited(ctx, m.(*api.ExecutorExitedRequest))
		return err
	}},
	{"Pong", func() proto.Message { return &api.PongRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		_, err := c.agent.Pong(ctx, m.(*api.PongRequest))
		return err
	}},
	{"AgentSubscribe", func() proto.Message { return &api.AgentSubscribeRequest{} }, func(ctx context.Context, c *fuzzCluster, m proto.Message) error {
		req := m.(*api.AgentSubscribeRequest)
		if req.GetAgent().GetAgentId() == c.agentH.AgentId {
			return nil // would replace the borrowed agent session
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := c.agent.Subscribe(ctx, req)
		if err == nil {
			_, err = st.Recv()
		}
		return err
	}},
}

// FuzzMasterRequests sends every kind of request, decoded from random
// bytes, to a real master. Bit 7 of the selector byte borrows the live
// framework's or agent's session (so validation is reached); the offers
// outstanding are named in accepts and declines that name none. The
// master must answer every call (an error is fine) and keep its
// allocator's invariants; Teardown and Unregister are left out since they
// would end the borrowed sessions.
func FuzzMasterRequests(f *testing.F) {
	c := newFuzzCluster(f)
	seed := func(sel byte, m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{sel}, b...))
	}
	task := api.TaskToProto(mezzo.TaskInfo{ID: "t", Resources: mezzo.MustParseResources("cpus:1;mem:32;ports:[31000-31001]"),
		Command: &mezzo.CommandInfo{Value: "true"}})
	seed(0x80, &api.AcceptRequest{Operations: []*api.Operation{{Operation: &api.Operation_Launch_{Launch: &api.Operation_Launch{Tasks: []*api.TaskInfo{task}}}}}})
	seed(0x81, &api.DeclineRequest{Filters: &api.Filters{RefuseNanos: -5}})
	seed(0x84, &api.KillRequest{TaskId: "t"})
	seed(0x86, &api.ReconcileRequest{Tasks: []*api.ReconcileRequest_Task{{TaskId: "t"}}})
	seed(0x08, &api.SubscribeRequest{Framework: &api.FrameworkInfo{Name: "x", Role: "r"}})
	seed(0x89, &api.AgentUpdateRequest{FrameworkId: "nope", Status: &api.TaskStatus{TaskId: "t", State: api.TaskState_TASK_FINISHED}})
	seed(0x0d, &api.AgentSubscribeRequest{Agent: &api.AgentInfo{Resources: &api.Resources{}}})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		meth := fuzzMethods[int(data[0]&0x7f)%len(fuzzMethods)]
		msg := meth.msg()
		if err := proto.Unmarshal(data[1:], msg); err != nil {
			return
		}
		if data[0]&0x80 != 0 {
			c.borrow(msg)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := meth.call(ctx, c, msg)
		if ctx.Err() != nil {
			t.Fatalf("%s did not answer in 5 s (err %v)", meth.name, err)
		}
		snap, err := c.m.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Check != "" {
			t.Fatalf("after %s %v: allocator invariants broken: %s", meth.name, msg, snap.Check)
		}
	})
}

// borrow puts the live sessions into a request's header and, for accepts
// and declines naming no offers, the offers outstanding.
func (c *fuzzCluster) borrow(msg proto.Message) {
	h := c.s.Header()
	switch r := msg.(type) {
	case *api.AcceptRequest:
		r.Header = h
		if len(r.OfferIds) == 0 {
			for _, o := range c.s.PendingOffers() {
				r.OfferIds = append(r.OfferIds, string(o.ID))
			}
		}
	case *api.DeclineRequest:
		r.Header = h
		if len(r.OfferIds) == 0 {
			for _, o := range c.s.PendingOffers() {
				r.OfferIds = append(r.OfferIds, string(o.ID))
			}
		}
	case *api.ReviveRequest:
		r.Header = h
	case *api.SuppressRequest:
		r.Header = h
	case *api.KillRequest:
		r.Header = h
	case *api.AcknowledgeRequest:
		r.Header = h
	case *api.ReconcileRequest:
		r.Header = h
	case *api.SchedulerMessageRequest:
		r.Header = h
	case *api.AgentUpdateRequest:
		r.Header = c.agentH
		if r.FrameworkId == "" {
			r.FrameworkId = string(c.s.ID)
		}
	case *api.AgentMessageRequest:
		r.Header = c.agentH
	case *api.ExecutorExitedRequest:
		r.Header = c.agentH
	case *api.PongRequest:
		r.Header = c.agentH
	}
}
