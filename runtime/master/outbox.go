package master

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// outbox is the queue between the master's loop and one subscriber's
// stream. The loop must never wait on a slow or dead peer, so pushes never
// block; the stream's own goroutine drains the queue. The lock guards only
// this queue, never master state.
//
// A bounded outbox (bound) is the back-pressure on a peer that does not
// read its stream: once more than limit items wait, it is closed with a
// ResourceExhausted error and its queue dropped, so the peer is
// disconnected instead of growing the master's memory.
type outbox[T any] struct {
	mu     sync.Mutex
	q      []T
	closed bool
	reason error // why the loop closed it, nil for a plain close
	signal chan struct{}
	limit  int           // 0: unbounded
	onFull func()        // called once, on the pushing goroutine, when limit is passed
	full   chan struct{} // closed when limit is passed; nil when unbounded
}

func newOutbox[T any]() *outbox[T] { return &outbox[T]{signal: make(chan struct{}, 1)} }

// push queues v; it reports false once the outbox is closed.
func (o *outbox[T]) push(v T) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	if o.limit > 0 && len(o.q) >= o.limit {
		o.closed, o.q = true, nil
		o.reason = status.Errorf(codes.ResourceExhausted, "event queue full: more than %d events were waiting for this stream; the subscriber does not read them fast enough, so the master disconnected it (subscribe again to resume)", o.limit)
		onFull := o.onFull
		close(o.full)
		o.mu.Unlock()
		if onFull != nil {
			onFull()
		}
		o.wake()
		return false
	}
	o.q = append(o.q, v)
	o.mu.Unlock()
	select {
	case o.signal <- struct{}{}:
	default:
	}
	return true
}

// bound sets the queue's limit (0: none) and what to do when it is
// passed.
func (o *outbox[T]) bound(limit int, onFull func()) {
	o.mu.Lock()
	o.limit, o.onFull = limit, onFull
	if limit > 0 && o.full == nil {
		o.full = make(chan struct{})
	}
	o.mu.Unlock()
}

func (o *outbox[T]) wake() {
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

// close stops further pushes; what is queued is still delivered.
func (o *outbox[T]) close(reason error) {
	o.mu.Lock()
	if !o.closed {
		o.closed, o.reason = true, reason
	}
	o.mu.Unlock()
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

// next waits for queued items. It returns ok=false when the outbox is
// closed and drained, or ctx ends.
func (o *outbox[T]) next(ctx context.Context) (batch []T, ok bool) {
	for {
		o.mu.Lock()
		if len(o.q) > 0 {
			batch, o.q = o.q, nil
			o.mu.Unlock()
			return batch, true
		}
		closed := o.closed
		o.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-o.signal:
		case <-ctx.Done():
			return nil, false
		}
	}
}

func (o *outbox[T]) closeReason() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reason
}

// pump sends what the loop queues until the outbox closes or the peer
// goes away. A bounded outbox's stream ends as soon as it overflows, even
// while a send waits on a peer that reads nothing (gRPC's Send blocks on
// flow control with no deadline): the sends run on a goroutine of their
// own, and returning from the handler cancels the stream and so unblocks
// them. Unbounded outboxes (agents, of which there may be tens of
// thousands) send on the caller's goroutine.
func pump[T any](ctx context.Context, out *outbox[T], send func(T) error) error {
	out.mu.Lock()
	full := out.full
	out.mu.Unlock()
	if full == nil {
		return drain(ctx, out, send)
	}
	done := make(chan error, 1)
	go func() { done <- drain(ctx, out, send) }()
	select {
	case err := <-done:
		return err
	case <-full:
		return out.closeReason()
	}
}

func drain[T any](ctx context.Context, out *outbox[T], send func(T) error) error {
	for {
		batch, ok := out.next(ctx)
		if !ok {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return out.closeReason()
		}
		for _, ev := range batch {
			if err := send(ev); err != nil {
				return err
			}
		}
	}
}
