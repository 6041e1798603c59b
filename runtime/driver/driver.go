package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Config says which master to reach and who the framework is.
type Config struct {
	// Master is the master's host:port, or several separated by commas
	// (standby masters redirect to the leader; see api.MasterConn).
	Master string
	// Masters adds more master addresses to Master.
	Masters []string
	// Discover, when set, names the leading master (e.g.
	// master.LeaderFromEtcd); it is asked when a master is lost and no
	// standby named the leader.
	Discover func(ctx context.Context) (string, error)
	// Framework describes the framework; set its ID to take over a
	// framework that failed over.
	Framework mezzo.FrameworkInfo
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts (doubling, with jitter). Defaults 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// CallTimeout bounds each unary call to the master. Default 10 s.
	CallTimeout time.Duration
	// Seed seeds the backoff jitter.
	Seed uint64
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// DialOptions are added to the gRPC dial (insecure credentials are
	// the default).
	DialOptions []grpc.DialOption
	// Reconcile: after each re-subscription the driver reconciles, for
	// the scheduler, the tasks it launched and has not delivered an end
	// for (reconcile.go). Off by default, as in Mesos's driver, where
	// reconciling is the scheduler's own business.
	Reconcile bool
}

// ErrStopped is what Wait returns after Stop (or the scheduler's own
// Driver.Stop).
var ErrStopped = errors.New("driver: stopped")

// Driver runs one mezzo.Scheduler against a real master. It implements
// mezzo.Driver for that scheduler.
//
// Callbacks and timer functions run one at a time on a single goroutine,
// in the order their events arrived, so scheduler code needs no locks.
//
// Acknowledgements: after the StatusUpdate callback returns, the driver
// acknowledges the update itself when it carries a UUID, so schedulers
// need not call AcknowledgeStatusUpdate (doing so anyway is harmless: the
// agent ignores a repeated acknowledgement). The next callback does not
// wait for the master's answer: acknowledgements, like every call, are
// queued and sent in order, many per round trip (batch.go).
//
// Reconnection: when the event stream breaks, the driver re-subscribes
// with the framework's ID, backing off between attempts, and calls
// Registered again once it is back. Calls made while disconnected fail
// with a gRPC Unavailable / FailedPrecondition error.
type Driver struct {
	cfg   Config
	sched mezzo.Scheduler
	log   *slog.Logger

	mc     *api.MasterConn
	client api.SchedulerAPIClient

	session atomic.Pointer[session] // nil while disconnected
	fwID    atomic.Pointer[mezzo.FrameworkID]
	queue   chan func()

	ctx      context.Context
	cancel   context.CancelFunc
	stopOnce sync.Once
	errMu    sync.Mutex
	err      error
	done     chan struct{}
	started  atomic.Bool
	stopping atomic.Bool // Stop is tearing down: a broken stream is expected
	// inDispatch is set while a callback runs; a Stop made then waits in
	// pendingStop until the callback (and its acknowledgement) is done.
	inDispatch  atomic.Bool
	pendingStop atomic.Pointer[bool]
	// batch queues calls to the master (batch.go).
	batch batcher
	// open tracks launched tasks not seen to end, with Config.Reconcile
	// (reconcile.go); nil without.
	open *openTasks
}

type session struct {
	framework mezzo.FrameworkID
	stream    string
}

// New checks the configuration and prepares a driver; Start connects.
func New(cfg Config, s mezzo.Scheduler) (*Driver, error) {
	if cfg.Master == "" && len(cfg.Masters) == 0 {
		return nil, errors.New("driver: no master address")
	}
	if s == nil {
		return nil, errors.New("driver: nil scheduler")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	mc, err := api.DialMasters(append([]string{cfg.Master}, cfg.Masters...), cfg.DialOptions...)
	if err != nil {
		return nil, fmt.Errorf("driver: master %s: %w", cfg.Master, err)
	}
	mc.Discover = cfg.Discover
	d := &Driver{
		cfg:    cfg,
		sched:  s,
		log:    cfg.Logger.With("framework_name", cfg.Framework.Name),
		mc:     mc,
		client: api.NewSchedulerAPIClient(mc.Conn()),
		queue:  make(chan func(), 1024),
		done:   make(chan struct{}),
	}
	if cfg.Reconcile {
		d.open = newOpenTasks()
	}
	return d, nil
}

// Run connects a scheduler to the master at addr and runs it until ctx
// ends (returning ctx's error), the scheduler stops the driver (nil), or
// the master reports an unrecoverable error (that error).
func Run(ctx context.Context, addr string, info mezzo.FrameworkInfo, s mezzo.Scheduler) error {
	d, err := New(Config{Master: addr, Framework: info}, s)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	err = d.Wait()
	if errors.Is(err, ErrStopped) {
		return nil
	}
	return err
}

// Start begins subscribing and delivering callbacks; it returns at once.
func (d *Driver) Start(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("driver: already started")
	}
	d.ctx, d.cancel = context.WithCancel(ctx)
	go d.receive()
	go d.dispatch()
	return nil
}

// Wait blocks until the driver ends and returns why: ErrStopped after
// Stop, ctx's error when the context ended, or the master's error.
func (d *Driver) Wait() error {
	<-d.done
	d.errMu.Lock()
	defer d.errMu.Unlock()
	return d.err
}

// Done is closed when the driver has ended.
func (d *Driver) Done() <-chan struct{} { return d.done }

// FrameworkID is the ID the master gave, "" before the first subscription.
func (d *Driver) FrameworkID() mezzo.FrameworkID {
	if id := d.fwID.Load(); id != nil {
		return *id
	}
	return d.cfg.Framework.ID
}

// finish ends the driver with err (the first reason wins).
func (d *Driver) finish(err error) {
	d.stopOnce.Do(func() {
		d.errMu.Lock()
		d.err = err
		d.errMu.Unlock()
		d.cancel()
		close(d.done)
	})
}

// receive subscribes, and re-subscribes after breaks, feeding events to
// the dispatcher.
func (d *Driver) receive() {
	rng := rand.New(rand.NewPCG(d.cfg.Seed, 0x6d657a7a6f))
	backoff := d.cfg.MinBackoff
	for {
		tried := d.mc.Current()
		connected, err := d.subscribeOnce()
		if d.stopping.Load() {
			return
		}
		if d.ctx.Err() != nil {
			d.finish(d.ctx.Err())
			return
		}
		// A refusal that retrying cannot change ends the driver at once,
		// with the master's reason, instead of reconnecting forever.
		if st, ok := status.FromError(err); ok && permanent(st.Code()) {
			msg := st.Message()
			d.enqueue(func() { d.sched.Error(d, msg) })
			d.enqueue(func() { d.finish(fmt.Errorf("driver: master refused the framework: %s", msg)) })
			return
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			msg := fatal.msg
			d.enqueue(func() { d.sched.Error(d, msg) })
			d.enqueue(func() { d.finish(fmt.Errorf("driver: %s", msg)) })
			return
		}
		if connected {
			backoff = d.cfg.MinBackoff
		}
		d.session.Store(nil)
		wait := backoff/2 + time.Duration(rng.Int64N(int64(backoff/2)+1))
		if api.LeaderHintFrom(err).GetAddress() != "" {
			wait = 0 // a standby named the leader: go there now
		}
		next := d.mc.Failed(d.ctx, tried, err)
		d.log.Warn("disconnected from the master; reconnecting", "master", next, "err", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-d.ctx.Done():
			d.finish(d.ctx.Err())
			return
		}
		backoff = min(2*backoff, d.cfg.MaxBackoff)
	}
}

// permanent reports whether a subscribe error is the master's final word:
// an unknown or malformed framework, or a principal the master does not
// know or does not allow.
func permanent(c codes.Code) bool {
	switch c {
	case codes.NotFound, codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}

type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }

// subscribeOnce runs one subscription until it breaks. connected reports
// whether the master accepted it.
func (d *Driver) subscribeOnce() (connected bool, err error) {
	info := d.cfg.Framework
	if id := d.FrameworkID(); id != "" {
		info.ID = id
	}
	ctx, cancel := context.WithCancel(d.ctx)
	defer cancel()
	stream, err := d.client.Subscribe(ctx, &api.SubscribeRequest{Framework: api.FrameworkToProto(info)}, grpc.WaitForReady(false))
	if err != nil {
		return false, err
	}
	// A silent master (several heartbeats missed) counts as a break.
	var lastEvent atomic.Int64
	lastEvent.Store(time.Now().UnixNano())
	var beat atomic.Int64
	watchdog := make(chan struct{})
	defer close(watchdog)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-watchdog:
				return
			case <-t.C:
				if b := beat.Load(); b > 0 && time.Since(time.Unix(0, lastEvent.Load())) > 3*time.Duration(b) {
					cancel()
					return
				}
			}
		}
	}()
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			return connected, errors.New("the master ended the subscription")
		}
		if err != nil {
			return connected, err
		}
		lastEvent.Store(time.Now().UnixNano())
		switch e := ev.Event.(type) {
		case *api.SchedulerEvent_Subscribed_:
			connected = true
			s := &session{framework: mezzo.FrameworkID(e.Subscribed.FrameworkId), stream: e.Subscribed.StreamId}
			beat.Store(e.Subscribed.HeartbeatIntervalNanos)
			d.session.Store(s)
			d.fwID.Store(&s.framework)
			d.log.Info("subscribed", "framework", s.framework, "master", d.mc.Current(), "master_id", e.Subscribed.MasterId, "epoch", e.Subscribed.MasterEpoch)
			if d.open != nil {
				d.open.answered()
			}
			d.enqueue(func() { d.sched.Registered(d, s.framework) })
			if d.open != nil {
				d.enqueue(d.reconcileOpen)
			}
		case *api.SchedulerEvent_Offers_:
			offers := make([]mezzo.Offer, 0, len(e.Offers.Offers))
			for _, p := range e.Offers.Offers {
				o, err := api.OfferFromProto(p)
				if err != nil {
					d.log.Error("malformed offer", "err", err)
					continue
				}
				offers = append(offers, o)
			}
			if d.open != nil {
				d.open.offered(offers)
			}
			d.enqueue(func() { d.sched.ResourceOffers(d, offers) })
		case *api.SchedulerEvent_Rescind_:
			id := mezzo.OfferID(e.Rescind.OfferId)
			if d.open != nil {
				d.open.answered(id)
			}
			d.enqueue(func() { d.sched.OfferRescinded(d, id) })
		case *api.SchedulerEvent_Update_:
			st, err := api.StatusFromProto(e.Update.Status)
			if err != nil {
				d.log.Error("malformed status update", "err", err)
				continue
			}
			d.enqueue(func() {
				if d.open != nil && st.State.Terminal() {
					d.open.ended(st.TaskID)
				}
				d.sched.StatusUpdate(d, st)
				if st.UUID != "" {
					d.acknowledge(st)
				}
			})
		case *api.SchedulerEvent_Failure_:
			f := e.Failure
			if f.ExecutorId == "" {
				id := mezzo.AgentID(f.AgentId)
				d.enqueue(func() { d.sched.AgentLost(d, id) })
			} else {
				d.log.Info("executor exited", "agent", f.AgentId, "executor", f.ExecutorId, "status", f.Status)
			}
		case *api.SchedulerEvent_Message_:
			m := e.Message
			d.enqueue(func() {
				d.sched.FrameworkMessage(d, mezzo.ExecutorID(m.ExecutorId), mezzo.AgentID(m.AgentId), m.Data)
			})
		case *api.SchedulerEvent_Error_:
			return connected, &fatalError{msg: e.Error.Message}
		case *api.SchedulerEvent_InverseOffer_:
			d.inverseOffer(e.InverseOffer)
		case *api.SchedulerEvent_Heartbeat_:
		}
	}
}

// enqueue hands a callback to the dispatcher.
func (d *Driver) enqueue(f func()) {
	select {
	case d.queue <- f:
	case <-d.done:
	}
}

// acknowledge sends the acknowledgement of an update without making the
// callbacks wait for the master's answer: a framework receiving many
// updates would otherwise handle them one round trip at a time, its offers
// queued behind, and past the agents' resend delay the updates come again
// and the load feeds itself. It joins the framework's other calls in the
// next batch (batch.go); Stop waits for them.
func (d *Driver) acknowledge(st mezzo.TaskStatus) {
	if err := d.AcknowledgeStatusUpdate(st); err != nil {
		d.log.Warn("acknowledge failed; the agent will resend", "task", st.TaskID, "err", err)
	}
}

// waitAcks returns once no call (acknowledgement or other) is in flight.
func (d *Driver) waitAcks() { d.waitCalls() }

// dispatch runs callbacks and timer functions one at a time.
func (d *Driver) dispatch() {
	// The connection closes only after the callback in progress returns
	// and the acknowledgements sent are answered, so those calls finish.
	defer func() { d.waitAcks(); _ = d.mc.Close() }()
	for {
		select {
		case f := <-d.queue:
			d.inDispatch.Store(true)
			f()
			d.inDispatch.Store(false)
			if p := d.pendingStop.Load(); p != nil {
				_ = d.stop(*p)
				return
			}
		case <-d.done:
			return
		}
	}
}

// call makes one unary call with the current session's header.
func (d *Driver) header() (*api.CallHeader, error) {
	s := d.session.Load()
	if s == nil {
		return nil, status.Error(codes.Unavailable, "driver: not subscribed to the master (reconnecting)")
	}
	return &api.CallHeader{FrameworkId: string(s.framework), StreamId: s.stream}, nil
}

func (d *Driver) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(d.ctx, d.cfg.CallTimeout)
}
