package driver

import (
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// InverseOfferHandler is implemented by schedulers that want to hear when
// an operator drains an agent for maintenance (Mesos's inverse offers).
// mezzo.Scheduler has no such callback, so the driver looks for this
// interface on the scheduler it runs; a scheduler without it simply gets
// no more offers on the drained agent, and its tasks there run on until
// they end or the operator kills them.
//
// InverseOffer runs on the callback goroutine like every other callback.
// tasks are the framework's live tasks on the agent when the drain began;
// deadline is when the operator means to take the agent down (zero when
// none was given). A scheduler moves a task by launching a replacement on
// another agent's offer and killing the original, in whichever order its
// service needs.
type InverseOfferHandler interface {
	InverseOffer(d mezzo.Driver, agent mezzo.AgentID, tasks []mezzo.TaskID, deadline time.Time)
}

// inverseOffer turns the event into the optional callback, or logs that
// the scheduler cannot take it.
func (d *Driver) inverseOffer(e *api.SchedulerEvent_InverseOffer) {
	agent := mezzo.AgentID(e.AgentId)
	tasks := make([]mezzo.TaskID, len(e.TaskIds))
	for i, t := range e.TaskIds {
		tasks[i] = mezzo.TaskID(t)
	}
	var deadline time.Time
	if e.DeadlineUnixNanos != 0 {
		deadline = time.Unix(0, e.DeadlineUnixNanos)
	}
	h, ok := d.sched.(InverseOfferHandler)
	if !ok {
		d.log.Info("agent draining; the scheduler does not handle inverse offers, its tasks there stay", "agent", agent, "tasks", len(tasks))
		return
	}
	d.enqueue(func() { h.InverseOffer(d, agent, tasks, deadline) })
}
