package sim

import (
	"errors"
	"slices"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// errStopped is returned by calls on a driver whose framework has stopped.
var errStopped = errors.New("sim: driver stopped")

// driver is the simulator's mezzo.Driver for one framework. Every call is a
// message to the master: it takes effect one latency later, in virtual time,
// as an event on the engine. Calls never block and are made from the
// framework's callbacks, which the engine runs one at a time.
type driver struct {
	w  *World
	fw *simFramework
}

var _ mezzo.Driver = (*driver)(nil)

func (d *driver) send(fn func()) error {
	if d.fw.stopped {
		return errStopped
	}
	d.w.after(d.w.latency, fn)
	return nil
}

// LaunchTasks implements mezzo.Driver. The slices are copied: the framework
// may reuse them once the call returns.
func (d *driver) LaunchTasks(offers []mezzo.OfferID, tasks []mezzo.TaskInfo, f mezzo.Filters) error {
	ids, ts := slices.Clone(offers), slices.Clone(tasks)
	if len(ts) == 0 {
		return d.send(func() { d.w.decline(d.fw, ids, f) })
	}
	return d.send(func() { d.w.launch(d.fw, ids, ts, f) })
}

// DeclineOffer implements mezzo.Driver.
func (d *driver) DeclineOffer(id mezzo.OfferID, f mezzo.Filters) error {
	return d.send(func() { d.w.decline(d.fw, []mezzo.OfferID{id}, f) })
}

// ReviveOffers implements mezzo.Driver.
func (d *driver) ReviveOffers() error { return d.send(func() { d.w.revive(d.fw) }) }

// SuppressOffers implements mezzo.Driver.
func (d *driver) SuppressOffers() error { return d.send(func() { d.w.suppress(d.fw) }) }

// KillTask implements mezzo.Driver.
func (d *driver) KillTask(id mezzo.TaskID) error { return d.send(func() { d.w.kill(d.fw, id) }) }

// AcknowledgeStatusUpdate implements mezzo.Driver; the simulator delivers
// updates reliably, so there is nothing to acknowledge.
func (d *driver) AcknowledgeStatusUpdate(mezzo.TaskStatus) error {
	if d.fw.stopped {
		return errStopped
	}
	return nil
}

// ReconcileTasks implements mezzo.Driver.
func (d *driver) ReconcileTasks(tasks []mezzo.TaskStatus) error {
	list := slices.Clone(tasks)
	return d.send(func() { d.w.reconcile(d.fw, list) })
}

// SendFrameworkMessage implements mezzo.Driver.
func (d *driver) SendFrameworkMessage(exec mezzo.ExecutorID, agent mezzo.AgentID, data []byte) error {
	b := slices.Clone(data)
	return d.send(func() { d.w.frameworkMessage(d.fw, exec, agent, b) })
}

// Stop implements mezzo.Driver. Callbacks stop at once; the master learns
// of it one latency later.
func (d *driver) Stop(failover bool) error {
	if err := d.send(func() { d.w.stopFramework(d.fw, failover) }); err != nil {
		return err
	}
	d.fw.stopped = true
	return nil
}

// Now implements mezzo.Driver: the virtual clock.
func (d *driver) Now() time.Time { return d.w.eng.Now() }

// AfterFunc implements mezzo.Driver on the engine: f runs at Now()+dur,
// between other callbacks, unless the framework has stopped by then.
func (d *driver) AfterFunc(dur time.Duration, f func()) mezzo.Timer {
	fw := d.fw
	return simTimer{d.w.after(dur, func() {
		if !fw.stopped {
			f()
		}
	})}
}

type simTimer struct{ t Timer }

func (t simTimer) Stop() bool { return t.t.Cancel() }
