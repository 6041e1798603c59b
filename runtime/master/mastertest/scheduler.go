package mastertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Scheduler is a raw SchedulerAPI subscription that records its events, so
// a test can make calls the SDK would never make (someone else's offer, a
// stale stream).
type Scheduler struct {
	t      testing.TB
	Client api.SchedulerAPIClient
	ID     mezzo.FrameworkID
	Stream string
	cancel context.CancelFunc

	mu     sync.Mutex
	events []*api.SchedulerEvent
	next   int // first event not yet taken by Next
	signal chan struct{}
	// outstanding are offers received, not rescinded and not yet taken
	// by TakeOffers, oldest first.
	outstanding []mezzo.Offer
}

// Subscribe registers a framework and waits for Subscribed.
func Subscribe(t testing.TB, addr string, info mezzo.FrameworkInfo) *Scheduler {
	t.Helper()
	return SubscribeWith(t, addr, info)
}

// SubscribeWith is Subscribe with dial options added after insecure
// credentials (TLS or a bearer token, say).
func SubscribeWith(t testing.TB, addr string, info mezzo.FrameworkInfo, opts ...grpc.DialOption) *Scheduler {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{t: t, Client: api.NewSchedulerAPIClient(conn), cancel: cancel, signal: make(chan struct{}, 1)}
	t.Cleanup(func() { cancel(); _ = conn.Close() })
	stream, err := s.Client.Subscribe(ctx, &api.SubscribeRequest{Framework: api.FrameworkToProto(info)})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	ev, err := stream.Recv()
	if err != nil || ev.GetSubscribed() == nil {
		t.Fatalf("subscribe: first event %v, err %v", ev, err)
	}
	s.ID, s.Stream = mezzo.FrameworkID(ev.GetSubscribed().FrameworkId), ev.GetSubscribed().StreamId
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.events = append(s.events, ev)
			for _, p := range ev.GetOffers().GetOffers() {
				if o, err := api.OfferFromProto(p); err == nil {
					s.outstanding = append(s.outstanding, o)
				}
			}
			if r := ev.GetRescind(); r != nil {
				for i, o := range s.outstanding {
					if o.ID == mezzo.OfferID(r.OfferId) {
						s.outstanding = append(s.outstanding[:i], s.outstanding[i+1:]...)
						break
					}
				}
			}
			s.mu.Unlock()
			select {
			case s.signal <- struct{}{}:
			default:
			}
		}
	}()
	return s
}

// Close drops the subscription.
func (s *Scheduler) Close() { s.cancel() }

// Header is the call header of this subscription.
func (s *Scheduler) Header() *api.CallHeader {
	return &api.CallHeader{FrameworkId: string(s.ID), StreamId: s.Stream}
}

// Next returns the next event not yet taken that matches, skipping (and
// consuming) others; it fails the test after timeout.
func (s *Scheduler) Next(what string, timeout time.Duration, match func(*api.SchedulerEvent) bool) *api.SchedulerEvent {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for s.next < len(s.events) {
			ev := s.events[s.next]
			s.next++
			if match(ev) {
				s.mu.Unlock()
				return ev
			}
		}
		s.mu.Unlock()
		select {
		case <-s.signal:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			s.t.Fatalf("framework %s: timed out after %v waiting for %s", s.ID, timeout, what)
		}
	}
}

// Find returns the first event ever received that matches, waiting up to
// timeout, without consuming anything.
func (s *Scheduler) Find(what string, timeout time.Duration, match func(*api.SchedulerEvent) bool) *api.SchedulerEvent {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for _, ev := range s.events {
			if match(ev) {
				s.mu.Unlock()
				return ev
			}
		}
		s.mu.Unlock()
		select {
		case <-s.signal:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			s.t.Fatalf("framework %s: timed out after %v waiting for %s", s.ID, timeout, what)
		}
	}
}

// NextOffers waits for the next Offers event and returns its offers.
func (s *Scheduler) NextOffers(timeout time.Duration) []mezzo.Offer {
	s.t.Helper()
	ev := s.Next("offers", timeout, func(ev *api.SchedulerEvent) bool { return ev.GetOffers() != nil })
	var out []mezzo.Offer
	for _, p := range ev.GetOffers().Offers {
		o, err := api.OfferFromProto(p)
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

// PendingOffers takes the offers outstanding now, without waiting (none
// is fine).
func (s *Scheduler) PendingOffers() []mezzo.Offer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.outstanding
	s.outstanding = nil
	return out
}

// TakeOffers waits until offers are outstanding and takes them all: later
// calls see only offers that arrive afterwards.
func (s *Scheduler) TakeOffers(timeout time.Duration) []mezzo.Offer {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		if len(s.outstanding) > 0 {
			out := s.outstanding
			s.outstanding = nil
			s.mu.Unlock()
			return out
		}
		s.mu.Unlock()
		select {
		case <-s.signal:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			s.t.Fatalf("framework %s: timed out after %v waiting for offers", s.ID, timeout)
		}
	}
}

// NextUpdate waits for the next update of the task.
func (s *Scheduler) NextUpdate(task mezzo.TaskID, timeout time.Duration) mezzo.TaskStatus {
	s.t.Helper()
	ev := s.Next("an update of task "+string(task), timeout, func(ev *api.SchedulerEvent) bool {
		return ev.GetUpdate().GetStatus().GetTaskId() == string(task)
	})
	st, err := api.StatusFromProto(ev.GetUpdate().Status)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// Accept launches tasks on offers with the given filters.
func (s *Scheduler) Accept(offers []mezzo.OfferID, tasks []mezzo.TaskInfo, f mezzo.Filters) error {
	req := &api.AcceptRequest{Header: s.Header(), Filters: api.FiltersToProto(f)}
	for _, o := range offers {
		req.OfferIds = append(req.OfferIds, string(o))
	}
	launch := &api.Operation_Launch{}
	for _, t := range tasks {
		launch.Tasks = append(launch.Tasks, api.TaskToProto(t))
	}
	req.Operations = []*api.Operation{{Operation: &api.Operation_Launch_{Launch: launch}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.Client.Accept(ctx, req)
	return err
}
