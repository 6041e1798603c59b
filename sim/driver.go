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
//
// Calls made one after another, with no other event scheduled in between
// (the common case: a callback answering a batch of offers), travel as one
// event that the master handles in call order. The order of every message
// against every other event is the same as if each call were its own event,
// so batching changes nothing but the count of events: a framework that
// declines 600 offers in one callback costs one event, not 600.
type driver struct {
	w  *World
	fw *simFramework
	// open is the batch still accepting calls: it was the last event
	// scheduled on the engine (its seq is the engine's), at this instant.
	open    *batch
	openSeq uint64
	// spare are delivered batches kept for reuse: a busy framework sends
	// a batch of hundreds of calls every few virtual seconds.
	spare []*batch
}

var _ mezzo.Driver = (*driver)(nil)

// batch is the calls of one framework that travel as one event.
type batch struct {
	d    *driver
	msgs []message
}

type msgKind uint8

const (
	msgLaunchTasks msgKind = iota
	msgDecline
	msgDeclineOne
	msgRevive
	msgSuppress
	msgKill
	msgReconcile
	msgFrameworkMessage
	msgStopFramework
)

// message is one driver call on its way to the master. A small typed
// record, not a closure: a decline, the call a framework makes most, then
// allocates nothing of its own; rarer calls carry their arguments in extra.
type message struct {
	kind    msgKind
	offer   mezzo.OfferID
	filters mezzo.Filters
	extra   *messageArgs
}

type messageArgs struct {
	failover bool
	offers   []mezzo.OfferID
	tasks    []mezzo.TaskInfo
	task     mezzo.TaskID
	statuses []mezzo.TaskStatus
	exec     mezzo.ExecutorID
	agent    mezzo.AgentID
	data     []byte
}

func (d *driver) send(m message) error {
	if d.fw.stopped {
		return errStopped
	}
	eng := d.w.eng
	// Check mode checks the allocator after every event: keep one event
	// per call there so a violation names the call that caused it.
	if d.open != nil && d.openSeq == eng.seq && !d.w.cfg.Check {
		d.open.msgs = append(d.open.msgs, m)
		return nil
	}
	var b *batch
	if n := len(d.spare); n > 0 {
		b = d.spare[n-1]
		d.spare = d.spare[:n-1]
	} else {
		b = &batch{d: d}
	}
	b.msgs = append(b.msgs, m)
	d.w.after(d.w.latency, b.deliver)
	d.open, d.openSeq = b, eng.seq
	return nil
}

// deliver hands the batch's messages to the master in call order.
func (b *batch) deliver() {
	d := b.d
	if d.open == b {
		d.open = nil
	}
	w, fw := d.w, d.fw
	for i := range b.msgs {
		m := &b.msgs[i]
		switch m.kind {
		case msgLaunchTasks:
			w.launch(fw, m.extra.offers, m.extra.tasks, m.filters)
		case msgDecline:
			w.decline(fw, m.extra.offers, m.filters)
		case msgDeclineOne:
			w.declineOne(fw, m.offer, m.filters)
		case msgRevive:
			w.revive(fw)
		case msgSuppress:
			w.suppress(fw)
		case msgKill:
			w.kill(fw, m.extra.task)
		case msgReconcile:
			w.reconcile(fw, m.extra.statuses)
		case msgFrameworkMessage:
			w.frameworkMessage(fw, m.extra.exec, m.extra.agent, m.extra.data)
		case msgStopFramework:
			w.stopFramework(fw, m.extra.failover)
		}
	}
	clear(b.msgs)
	b.msgs = b.msgs[:0]
	d.spare = append(d.spare, b)
}

// LaunchTasks implements mezzo.Driver. The slices are copied: the framework
// may reuse them once the call returns.
func (d *driver) LaunchTasks(offers []mezzo.OfferID, tasks []mezzo.TaskInfo, f mezzo.Filters) error {
	ids := slices.Clone(offers)
	if len(tasks) == 0 {
		return d.send(message{kind: msgDecline, filters: f, extra: &messageArgs{offers: ids}})
	}
	return d.send(message{kind: msgLaunchTasks, filters: f, extra: &messageArgs{offers: ids, tasks: slices.Clone(tasks)}})
}

// DeclineOffer implements mezzo.Driver.
func (d *driver) DeclineOffer(id mezzo.OfferID, f mezzo.Filters) error {
	return d.send(message{kind: msgDeclineOne, offer: id, filters: f})
}

// ReviveOffers implements mezzo.Driver.
func (d *driver) ReviveOffers() error { return d.send(message{kind: msgRevive}) }

// SuppressOffers implements mezzo.Driver.
func (d *driver) SuppressOffers() error { return d.send(message{kind: msgSuppress}) }

// KillTask implements mezzo.Driver.
func (d *driver) KillTask(id mezzo.TaskID) error {
	return d.send(message{kind: msgKill, extra: &messageArgs{task: id}})
}

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
	return d.send(message{kind: msgReconcile, extra: &messageArgs{statuses: slices.Clone(tasks)}})
}

// SendFrameworkMessage implements mezzo.Driver.
func (d *driver) SendFrameworkMessage(exec mezzo.ExecutorID, agent mezzo.AgentID, data []byte) error {
	return d.send(message{kind: msgFrameworkMessage, extra: &messageArgs{exec: exec, agent: agent, data: slices.Clone(data)}})
}

// Stop implements mezzo.Driver. Callbacks stop at once; the master learns
// of it one latency later.
func (d *driver) Stop(failover bool) error {
	if err := d.send(message{kind: msgStopFramework, extra: &messageArgs{failover: failover}}); err != nil {
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
