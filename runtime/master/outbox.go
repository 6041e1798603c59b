package master

import (
	"context"
	"sync"
)

// outbox is the queue between the master's loop and one subscriber's
// stream. The loop must never wait on a slow or dead peer, so pushes never
// block; the stream's own goroutine drains the queue. The lock guards only
// this queue, never master state.
type outbox[T any] struct {
	mu     sync.Mutex
	q      []T
	closed bool
	reason error // why the loop closed it, nil for a plain close
	signal chan struct{}
}

func newOutbox[T any]() *outbox[T] { return &outbox[T]{signal: make(chan struct{}, 1)} }

// push queues v; it reports false once the outbox is closed.
func (o *outbox[T]) push(v T) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
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
