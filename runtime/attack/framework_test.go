package attack

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// framework is a scheduler speaking the SchedulerAPI directly, as a
// tenant's (or an attacker's) own client would: it acknowledges every
// update and keeps every event it hears.
type framework struct {
	t      *testing.T
	client api.SchedulerAPIClient
	cancel context.CancelFunc
	id     string
	stream string

	mu      sync.Mutex
	offers  []*api.Offer
	updates []mezzo.TaskStatus
	events  []*api.SchedulerEvent
	err     error // why the stream ended
	changed chan struct{}
}

// subscribe registers (or, with info.ID, re-subscribes) a framework over
// conn and returns it once subscribed, or the subscription's error.
func subscribe(t *testing.T, conn *grpc.ClientConn, info mezzo.FrameworkInfo) (*framework, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	client := api.NewSchedulerAPIClient(conn)
	stream, err := client.Subscribe(ctx, &api.SubscribeRequest{Framework: api.FrameworkToProto(info)})
	if err != nil {
		cancel()
		return nil, err
	}
	ev, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	sub := ev.GetSubscribed()
	if sub == nil {
		cancel()
		return nil, fmt.Errorf("first event is %T, not Subscribed", ev.Event)
	}
	f := &framework{t: t, client: client, cancel: cancel, id: sub.FrameworkId, stream: sub.StreamId, changed: make(chan struct{}, 1)}
	t.Cleanup(cancel)
	go func() {
		for {
			ev, err := stream.Recv()
			f.mu.Lock()
			if err != nil {
				f.err = err
				f.mu.Unlock()
				f.poke()
				return
			}
			f.events = append(f.events, ev)
			switch e := ev.Event.(type) {
			case *api.SchedulerEvent_Offers_:
				f.offers = append(f.offers, e.Offers.Offers...)
			case *api.SchedulerEvent_Rescind_:
				for i, o := range f.offers {
					if o.OfferId == e.Rescind.OfferId {
						f.offers = append(f.offers[:i], f.offers[i+1:]...)
						break
					}
				}
			case *api.SchedulerEvent_Update_:
				st, err := api.StatusFromProto(e.Update.Status)
				if err == nil {
					f.updates = append(f.updates, st)
					if st.UUID != "" {
						go f.ack(st)
					}
				}
			}
			f.mu.Unlock()
			f.poke()
		}
	}()
	return f, nil
}

// mustSubscribe is subscribe that fails the test on error.
func mustSubscribe(t *testing.T, conn *grpc.ClientConn, info mezzo.FrameworkInfo) *framework {
	t.Helper()
	f, err := subscribe(t, conn, info)
	if err != nil {
		t.Fatalf("subscribe %+v: %v", info, err)
	}
	return f
}

func (f *framework) poke() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *framework) header() *api.CallHeader {
	return &api.CallHeader{FrameworkId: f.id, StreamId: f.stream}
}

func (f *framework) ack(st mezzo.TaskStatus) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = f.client.Acknowledge(ctx, &api.AcknowledgeRequest{Header: f.header(), AgentId: string(st.AgentID), TaskId: string(st.TaskID), Uuid: st.UUID})
}

// wait blocks until cond (called with f.mu held) holds or d passes.
func (f *framework) wait(what string, d time.Duration, cond func() bool) {
	f.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok, err := cond(), f.err
		f.mu.Unlock()
		if ok {
			return
		}
		if err != nil {
			f.t.Fatalf("framework %s: stream ended (%v) while waiting for %s", f.id, err, what)
		}
		select {
		case <-f.changed:
		case <-deadline.C:
			f.t.Fatalf("framework %s: timed out after %v waiting for %s", f.id, d, what)
		}
	}
}

// offer waits for an outstanding offer and takes it out of the list.
func (f *framework) offer() *api.Offer {
	f.t.Helper()
	var o *api.Offer
	f.wait("an offer", 20*time.Second, func() bool {
		if len(f.offers) == 0 {
			return false
		}
		o, f.offers = f.offers[0], f.offers[1:]
		return true
	})
	return o
}

// launch accepts o with the tasks (their AgentID is set to the offer's).
func (f *framework) launch(o *api.Offer, tasks ...mezzo.TaskInfo) error {
	var pts []*api.TaskInfo
	for _, t := range tasks {
		t.AgentID = mezzo.AgentID(o.AgentId)
		pts = append(pts, api.TaskToProto(t))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := f.client.Accept(ctx, &api.AcceptRequest{Header: f.header(), OfferIds: []string{o.OfferId},
		Operations: []*api.Operation{{Operation: &api.Operation_Launch_{Launch: &api.Operation_Launch{Tasks: pts}}}}})
	return err
}

// run launches one command task as nobody on the next offer.
func (f *framework) run(id, resources, shell string) {
	f.t.Helper()
	res, err := mezzo.ParseResources(resources)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.launch(f.offer(), mezzo.TaskInfo{ID: mezzo.TaskID(id), Resources: res,
		Command: &mezzo.CommandInfo{Value: shell, Shell: true, User: "nobody"}}); err != nil {
		f.t.Fatalf("launch %s: %v", id, err)
	}
}

// waitState waits for an update of task id in one of states and returns it.
func (f *framework) waitState(id string, d time.Duration, states ...mezzo.TaskState) mezzo.TaskStatus {
	f.t.Helper()
	var got mezzo.TaskStatus
	f.wait(fmt.Sprintf("task %s to reach %v", id, states), d, func() bool {
		for _, u := range f.updates {
			if string(u.TaskID) != id {
				continue
			}
			for _, s := range states {
				if u.State == s {
					got = u
					return true
				}
			}
		}
		return false
	})
	return got
}

// statesOf lists the states task id was reported in, in order.
func (f *framework) statesOf(id string) []mezzo.TaskState {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []mezzo.TaskState
	for _, u := range f.updates {
		if string(u.TaskID) == id {
			out = append(out, u.State)
		}
	}
	return out
}

// call runs a unary call with a short timeout.
func call[Req any](f *framework, rpc func(context.Context, Req, ...grpc.CallOption) (*api.Empty, error), req Req) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := rpc(ctx, req)
	return err
}
