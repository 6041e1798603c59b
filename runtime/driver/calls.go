package driver

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

var _ mezzo.Driver = (*Driver)(nil)

// LaunchTasks accepts offers (all on one agent) and launches tasks. Tasks
// the master refuses come back as TASK_ERROR / TASK_DROPPED updates. While
// the driver is not subscribed nothing is sent and each task comes back
// TASK_LOST (REASON_MASTER_DISCONNECTED), as from Mesos's scheduler
// driver: a framework learns a launch's fate one way, through its status
// updates, and a retry after re-subscription is its own choice.
func (d *Driver) LaunchTasks(offers []mezzo.OfferID, tasks []mezzo.TaskInfo, f mezzo.Filters) error {
	if d.open != nil {
		// Before the call leaves: its tasks' updates may come back at once.
		d.open.launched(offers, tasks)
	}
	h, err := d.header()
	if err == nil {
		req := &api.AcceptRequest{Header: h, Filters: api.FiltersToProto(f)}
		for _, o := range offers {
			req.OfferIds = append(req.OfferIds, string(o))
		}
		if len(tasks) > 0 {
			launch := &api.Operation_Launch{}
			for _, t := range tasks {
				launch.Tasks = append(launch.Tasks, api.TaskToProto(t))
			}
			req.Operations = []*api.Operation{{Operation: &api.Operation_Launch_{Launch: launch}}}
		}
		err = d.add(&api.Call{Call: &api.Call_Accept{Accept: req}})
	}
	if err != nil && len(tasks) > 0 {
		d.lostUnsent(tasks, err)
		return nil
	}
	return err
}

// lostUnsent reports tasks whose launch was never sent as TASK_LOST, after
// the callback in progress (LaunchTasks is usually called from one).
func (d *Driver) lostUnsent(tasks []mezzo.TaskInfo, why error) {
	now := time.Now()
	if d.open != nil {
		for _, t := range tasks {
			d.open.ended(t.ID)
		}
	}
	sts := make([]mezzo.TaskStatus, len(tasks))
	for i, t := range tasks {
		sts[i] = mezzo.TaskStatus{TaskID: t.ID, AgentID: t.AgentID, State: mezzo.TaskLost, Reason: mezzo.ReasonMasterDisconnected,
			Message: fmt.Sprintf("launch not sent: %v", why), Time: now}
	}
	d.log.Warn("launch not sent; tasks reported lost", "tasks", len(tasks), "err", why)
	go func() {
		for _, st := range sts {
			d.enqueue(func() { d.sched.StatusUpdate(d, st) })
		}
	}()
}

// DeclineOffer gives an offer back.
func (d *Driver) DeclineOffer(id mezzo.OfferID, f mezzo.Filters) error {
	if d.open != nil {
		d.open.answered(id)
	}
	h, err := d.header()
	if err != nil {
		return err
	}
	return d.add(&api.Call{Call: &api.Call_Decline{Decline: &api.DeclineRequest{Header: h, OfferIds: []string{string(id)}, Filters: api.FiltersToProto(f)}}})
}

// ReviveOffers clears filters and ends suppression.
func (d *Driver) ReviveOffers() error {
	h, err := d.header()
	if err != nil {
		return err
	}
	return d.add(&api.Call{Call: &api.Call_Revive{Revive: &api.ReviveRequest{Header: h}}})
}

// SuppressOffers stops offers until ReviveOffers.
func (d *Driver) SuppressOffers() error {
	h, err := d.header()
	if err != nil {
		return err
	}
	return d.add(&api.Call{Call: &api.Call_Suppress{Suppress: &api.SuppressRequest{Header: h}}})
}

// KillTask asks for a task to be killed.
func (d *Driver) KillTask(id mezzo.TaskID) error {
	h, err := d.header()
	if err != nil {
		return err
	}
	return d.add(&api.Call{Call: &api.Call_Kill{Kill: &api.KillRequest{Header: h, TaskId: string(id)}}})
}

// AcknowledgeStatusUpdate acknowledges an update that carries a UUID (the
// driver already does so after StatusUpdate returns); others are ignored.
func (d *Driver) AcknowledgeStatusUpdate(s mezzo.TaskStatus) error {
	if s.UUID == "" {
		return nil
	}
	h, err := d.header()
	if err != nil {
		return err
	}
	return d.add(&api.Call{Call: &api.Call_Acknowledge{Acknowledge: &api.AcknowledgeRequest{Header: h, AgentId: string(s.AgentID), TaskId: string(s.TaskID), Uuid: s.UUID}}})
}

// ReconcileTasks asks for the latest state of tasks (all when empty).
func (d *Driver) ReconcileTasks(tasks []mezzo.TaskStatus) error {
	h, err := d.header()
	if err != nil {
		return err
	}
	req := &api.ReconcileRequest{Header: h}
	for _, t := range tasks {
		req.Tasks = append(req.Tasks, &api.ReconcileRequest_Task{TaskId: string(t.TaskID), AgentId: string(t.AgentID)})
	}
	return d.add(&api.Call{Call: &api.Call_Reconcile{Reconcile: req}})
}

// SendFrameworkMessage sends data to an executor.
func (d *Driver) SendFrameworkMessage(executor mezzo.ExecutorID, agent mezzo.AgentID, data []byte) error {
	h, err := d.header()
	if err != nil {
		return err
	}
	ctx, cancel := d.callCtx()
	defer cancel()
	_, err = d.client.Message(ctx, &api.SchedulerMessageRequest{Header: h, AgentId: string(agent), ExecutorId: string(executor), Data: data})
	return err
}

// Stop ends the driver. Without failover the framework is torn down (its
// tasks killed); with failover it is only disconnected, and the master
// keeps its tasks for the failover timeout. Wait then returns ErrStopped.
//
// Called from a callback, Stop takes effect once that callback returns (so
// the update it handles is still acknowledged) and reports no error.
func (d *Driver) Stop(failover bool) error {
	if d.inDispatch.Load() {
		d.stopping.Store(true)
		d.pendingStop.Store(&failover)
		return nil
	}
	return d.stop(failover)
}

func (d *Driver) stop(failover bool) error {
	var err error
	d.stopping.Store(true)
	d.waitAcks() // updates already handled are acknowledged first
	if !failover {
		if h, herr := d.header(); herr == nil {
			ctx, cancel := d.callCtx()
			_, err = d.client.Teardown(ctx, &api.TeardownRequest{Header: h})
			cancel()
		} else {
			err = herr
		}
	}
	d.finish(ErrStopped)
	return err
}

// Now is wall time.
func (d *Driver) Now() time.Time { return time.Now() }

// AfterFunc runs f after dur on the callback goroutine.
func (d *Driver) AfterFunc(dur time.Duration, f func()) mezzo.Timer {
	t := &timer{}
	t.t = time.AfterFunc(dur, func() {
		d.enqueue(func() {
			if t.state.CompareAndSwap(timerPending, timerFired) {
				f()
			}
		})
	})
	return t
}

const (
	timerPending int32 = iota
	timerFired
	timerStopped
)

// timer is a pending AfterFunc; its state settles whether the function
// runs or Stop wins, whichever comes first on the callback goroutine.
type timer struct {
	t     *time.Timer
	state atomic.Int32
}

// Stop cancels the timer; false if the function already ran or was
// stopped.
func (t *timer) Stop() bool {
	if t.state.CompareAndSwap(timerPending, timerStopped) {
		t.t.Stop()
		return true
	}
	return false
}
