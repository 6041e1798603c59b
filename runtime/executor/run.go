package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Run connects to the agent and drives exec until the driver is stopped
// (after its updates are delivered), the agent asks for shutdown, the agent
// stays unreachable for cfg.ReconnectTimeout, or ctx ends. An agent that
// restarts within ReconnectTimeout gets the executor back: Run subscribes
// again and resends the updates the agent never confirmed. When it gives
// up on the agent, it calls exec.Shutdown so the tasks end with it.
func Run(ctx context.Context, cfg Config, exec mezzo.Executor) error {
	if cfg.Endpoint == "" || cfg.ExecutorID == "" || cfg.FrameworkID == "" {
		return errors.New("executor: config needs Endpoint, FrameworkID and ExecutorID")
	}
	if cfg.ReconnectTimeout <= 0 {
		cfg.ReconnectTimeout = 15 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("framework", cfg.FrameworkID, "executor", cfg.ExecutorID)
	creds := insecure.NewCredentials()
	if cfg.AgentCA != "" {
		tc, err := security.ClientCAOnlyTLS(cfg.AgentCA)
		if err != nil {
			return fmt.Errorf("executor: %s: %w", EnvAgentCA, err)
		}
		creds = credentials.NewTLS(tc)
	}
	// gRPC's default reconnect backoff grows to minutes; an executor
	// waiting for its agent to restart must notice it within a second or
	// so, well inside the agent's executor re-registration timeout.
	// The receive limit is the agent's own: a launch the agent took from
	// its master is passed on as it is.
	conn, err := grpc.NewClient(cfg.Endpoint, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(api.AgentRecvLimit)),
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 5 * time.Second,
			Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond}}))
	if err != nil {
		return fmt.Errorf("executor: agent endpoint %q: %w", cfg.Endpoint, err)
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &driver{
		client: api.NewExecutorAPIClient(conn),
		header: &api.ExecutorHeader{FrameworkId: cfg.FrameworkID, ExecutorId: cfg.ExecutorID, Token: cfg.Token},
		log:    log,
		ctx:    ctx,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	d.cond = sync.NewCond(&d.mu)
	go d.sendLoop()

	events := make(chan *api.ExecutorEvent, 64)
	streamErr := make(chan error, 1)
	go func() { streamErr <- d.receive(ctx, cfg.ReconnectTimeout, events) }()

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.stopped():
			return d.drain(ctx)
		case err := <-streamErr:
			// The agent is gone for good, or does not know this executor
			// (a restarted agent that did not recover it): end the tasks
			// rather than leave them running unsupervised.
			exec.Shutdown(d)
			return err
		case ev := <-events:
			if quit, err := d.dispatch(exec, ev); quit {
				if err != nil {
					return err
				}
				return d.drain(ctx)
			}
		}
	}
}

// receive keeps one Subscribe stream open, re-subscribing while the agent is
// briefly unreachable, and feeds its events to the loop.
func (d *driver) receive(ctx context.Context, timeout time.Duration, out chan<- *api.ExecutorEvent) error {
	delay := 50 * time.Millisecond
	lastOK := time.Now()
	for {
		stream, err := d.client.Subscribe(ctx, &api.ExecutorSubscribeRequest{Header: d.header, UnacknowledgedUpdates: d.pending()})
		if err == nil {
			up := false
			for {
				var ev *api.ExecutorEvent
				ev, err = stream.Recv()
				if err != nil {
					// The agent was there until now, however long the
					// stream had been quiet: the timeout starts here.
					if up {
						lastOK = time.Now()
					}
					break
				}
				up = true
				lastOK = time.Now()
				delay = 50 * time.Millisecond
				select {
				case out <- ev:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c := status.Code(err); c == codes.PermissionDenied || c == codes.NotFound || c == codes.InvalidArgument {
			return fmt.Errorf("executor: agent refused subscription: %w", err)
		}
		if time.Since(lastOK) > timeout {
			return fmt.Errorf("executor: agent unreachable for %v: %w", timeout, err)
		}
		if err != io.EOF {
			d.log.Warn("executor stream broken; re-subscribing", "err", err)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// dispatch calls into the executor for one event; quit says Run should end.
func (d *driver) dispatch(exec mezzo.Executor, ev *api.ExecutorEvent) (quit bool, err error) {
	switch e := ev.Event.(type) {
	case *api.ExecutorEvent_Subscribed_:
		info, err := api.ExecutorFromProto(e.Subscribed.Executor)
		if err != nil || info == nil {
			return true, fmt.Errorf("executor: bad Subscribed event: %v", err)
		}
		if d.registered {
			return false, nil // a re-subscription after a broken stream
		}
		d.registered = true
		exec.Registered(d, *info, mezzo.FrameworkID(d.header.FrameworkId), mezzo.AgentID(e.Subscribed.AgentId))
	case *api.ExecutorEvent_Launch_:
		task, err := api.TaskFromProto(e.Launch.Task)
		if err != nil {
			d.log.Error("bad task from agent", "err", err)
			_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: mezzo.TaskID(e.Launch.GetTask().GetTaskId()), State: mezzo.TaskError, Reason: mezzo.ReasonTaskInvalid, Message: err.Error()})
			return false, nil
		}
		if d.launched[task.ID] {
			d.log.Info("launch of a task already launched; ignored (sent again by a restarted agent)", "task", string(task.ID))
			return false, nil
		}
		if d.launched == nil {
			d.launched = map[mezzo.TaskID]bool{}
		}
		d.launched[task.ID] = true
		exec.LaunchTask(d, task)
	case *api.ExecutorEvent_Kill_:
		exec.KillTask(d, mezzo.TaskID(e.Kill.TaskId))
	case *api.ExecutorEvent_Message_:
		exec.FrameworkMessage(d, e.Message.Data)
	case *api.ExecutorEvent_Shutdown_:
		exec.Shutdown(d)
		return true, nil
	case *api.ExecutorEvent_Error_:
		return true, fmt.Errorf("executor: agent error: %s", e.Error.Message)
	}
	return false, nil
}

// driver is the mezzo.ExecutorDriver of one executor process. Updates go
// through an ordered queue served by one sender goroutine, so updates of a
// task reach the agent in the order they were sent.
type driver struct {
	client     api.ExecutorAPIClient
	header     *api.ExecutorHeader
	log        *slog.Logger
	ctx        context.Context
	registered bool // touched only by the Run loop
	// launched are the tasks handed to the executor (Run loop only). A
	// restarted agent sends again the launches it cannot know were
	// delivered; the executor gets each task once.
	launched map[mezzo.TaskID]bool

	mu       sync.Mutex
	cond     *sync.Cond // signalled when the queue empties
	queue    []*api.TaskStatus
	wake     chan struct{}
	done     chan struct{} // closed by Stop
	doneOnce sync.Once
}

var _ mezzo.ExecutorDriver = (*driver)(nil)

// SendStatusUpdate queues an update; it never blocks on the agent.
func (d *driver) SendStatusUpdate(s mezzo.TaskStatus) error {
	if s.TaskID == "" {
		return errors.New("executor: status update without a task ID")
	}
	s.ExecutorID = mezzo.ExecutorID(d.header.ExecutorId)
	if s.UUID == "" {
		s.UUID = newUUID()
	}
	if s.Time.IsZero() {
		s.Time = time.Now()
	}
	d.mu.Lock()
	d.queue = append(d.queue, api.StatusToProto(s))
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return nil
}

// SendFrameworkMessage sends data to the scheduler, best effort (as in Mesos,
// framework messages are not reliable).
func (d *driver) SendFrameworkMessage(data []byte) error {
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	_, err := d.client.Message(ctx, &api.ExecutorMessageRequest{Header: d.header, Data: data})
	return err
}

// Stop ends Run once the queued updates are delivered.
func (d *driver) Stop() error {
	d.doneOnce.Do(func() { close(d.done) })
	return nil
}

func (d *driver) stopped() <-chan struct{} { return d.done }

func (d *driver) pending() []*api.TaskStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*api.TaskStatus(nil), d.queue...)
}

// drain waits until every queued update is stored by the agent.
func (d *driver) drain(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.cond.Broadcast()
		d.mu.Unlock()
	})
	defer stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.queue) > 0 && ctx.Err() == nil {
		d.cond.Wait()
	}
	return ctx.Err()
}

func (d *driver) sendLoop() {
	delay := 20 * time.Millisecond
	for {
		d.mu.Lock()
		var head *api.TaskStatus
		if len(d.queue) > 0 {
			head = d.queue[0]
		}
		d.mu.Unlock()
		if head == nil {
			select {
			case <-d.wake:
				continue
			case <-d.ctx.Done():
				return
			}
		}
		ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
		_, err := d.client.Update(ctx, &api.ExecutorUpdateRequest{Header: d.header, Status: head})
		cancel()
		if err != nil && d.ctx.Err() == nil {
			c := status.Code(err)
			if c == codes.PermissionDenied || c == codes.InvalidArgument || c == codes.NotFound {
				d.log.Error("agent refused status update; dropping it", "task", head.TaskId, "state", head.State.String(), "err", err)
			} else {
				d.log.Warn("status update not delivered; retrying", "task", head.TaskId, "err", err)
				select {
				case <-time.After(delay):
				case <-d.ctx.Done():
					return
				}
				delay = min(2*delay, time.Second)
				continue
			}
		}
		delay = 20 * time.Millisecond
		d.mu.Lock()
		if len(d.queue) > 0 && d.queue[0] == head {
			d.queue = d.queue[1:]
		}
		if len(d.queue) == 0 {
			d.cond.Broadcast()
		}
		d.mu.Unlock()
		if d.ctx.Err() != nil {
			return
		}
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
