package driver

import (
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// batcher sends the framework's calls to the master in order, many per
// round trip. Calls made while a batch is in flight queue up and leave
// together in the next one (group commit): an idle framework pays one
// round trip per call as before, a busy one a fraction of a round trip,
// one loop turn on the master and no goroutine per call. Callbacks never
// wait for the master (the mezzo.Driver contract); the master's refusals
// of accepted offers come back as status updates, others are logged.
type batcher struct {
	once     sync.Once
	mu       sync.Mutex
	idle     *sync.Cond // signalled when nothing is queued or in flight
	q        []*api.Call
	inFlight bool
}

// add queues a call. It fails at once, sending nothing, while the driver
// is not subscribed.
func (d *Driver) add(c *api.Call) error {
	if d.session.Load() == nil {
		return status.Error(codes.Unavailable, "driver: not subscribed to the master (reconnecting)")
	}
	b := &d.batch
	b.once.Do(func() { b.idle = sync.NewCond(&b.mu) })
	b.mu.Lock()
	b.q = append(b.q, c)
	start := !b.inFlight
	b.inFlight = true
	b.mu.Unlock()
	if start {
		go d.flush()
	}
	return nil
}

// flush sends queued calls until none are left.
func (d *Driver) flush() {
	b := &d.batch
	for {
		b.mu.Lock()
		calls := b.q
		b.q = nil
		if len(calls) == 0 {
			b.inFlight = false
			b.idle.Broadcast()
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		h, err := d.header()
		if err != nil {
			// Not sent: the launches among them are lost for sure.
			if tasks := launchedIn(calls); len(tasks) > 0 {
				d.lostUnsent(tasks, err)
			}
		} else {
			ctx, cancel := d.callCtx()
			_, err = d.client.Calls(ctx, &api.CallBatch{Header: h, Calls: calls})
			cancel()
		}
		if err != nil {
			// Unacknowledged updates are resent by their agents, offers
			// not answered time out; the framework hears of neither. A
			// launch in a batch that failed on the way may have reached
			// the master: only reconciliation can tell.
			d.log.Warn("calls not delivered to the master", "calls", len(calls), "err", err)
		}
	}
}

// waitCalls returns once every queued call has been sent and answered.
func (d *Driver) waitCalls() {
	b := &d.batch
	b.once.Do(func() { b.idle = sync.NewCond(&b.mu) })
	b.mu.Lock()
	for b.inFlight {
		b.idle.Wait()
	}
	b.mu.Unlock()
}

// launchedIn lists the tasks the Accept calls among calls launch.
func launchedIn(calls []*api.Call) []mezzo.TaskInfo {
	var out []mezzo.TaskInfo
	for _, c := range calls {
		for _, op := range c.GetAccept().GetOperations() {
			for _, p := range op.GetLaunch().GetTasks() {
				if t, err := api.TaskFromProto(p); err == nil {
					out = append(out, t)
				}
			}
		}
	}
	return out
}
