package sim

import (
	"math"
	"time"
)

// Epoch is the instant every simulation starts at: midnight UTC on
// 30 March 2011, the first day of NSDI 2011 where the Mesos paper was
// presented. Any fixed instant would do; a real calendar date keeps
// timestamps in logs and status updates readable and far from the zero
// time.Time, which code elsewhere treats as "unset".
var Epoch = time.Date(2011, time.March, 30, 0, 0, 0, 0, time.UTC)

// Engine is a discrete-event engine with a virtual clock.
//
// Events run one at a time on the caller's goroutine, in order of
// (virtual time, sequence number): events due at the same instant run in the
// order they were scheduled, so a run is a pure function of its inputs. The
// clock jumps from one event to the next; nothing waits in real time.
//
// The queue is a 4-ary min-heap of small value records (no pointers), so
// pushing and popping does not allocate once the slices have grown, and the
// garbage collector has nothing to scan in it. The callbacks live beside the
// heap in slots recycled through a free list, kept as parallel arrays so the
// check made on every pop (is this record still live?) reads a dense array of
// sequence numbers: at 100,000 pending events that is the difference between
// a cache hit and a miss, about a third of the time per event.
//
// Cancellation is lazy: Cancel frees the event's slot at once, and the heap
// record, which no longer matches its slot, is discarded when it reaches the
// top. Tracking every record's heap position instead would make Cancel
// O(log n) exactly but costs a scattered write on every swap of every push
// and pop, and events are pushed and popped far more often than cancelled.
// To keep memory bounded when many events are cancelled long before they are
// due, the heap is rebuilt without the dead records once they outnumber the
// live ones.
//
// An Engine is not safe for concurrent use; the simulator is single-threaded
// by design.
type Engine struct {
	now       int64 // nanoseconds since Epoch
	seq       uint64
	heap      []event
	seqs      []uint64 // by slot: seq of the owning event, 0 when free
	fns       []func() // by slot
	ats       []int64  // by slot
	free      []int32
	dead      int // heap records whose slot was cancelled
	processed uint64
	running   bool
	stopped   bool
}

// event is one heap record. It is kept small and pointer-free: the heap is
// the hot loop.
type event struct {
	at   int64
	seq  uint64
	slot int32
}

// Timer is the handle of one scheduled event. The zero Timer is valid and
// refers to no event.
type Timer struct {
	e    *Engine
	slot int32
	seq  uint64
}

// NewEngine returns an engine whose clock reads Epoch and whose queue is
// empty.
func NewEngine() *Engine { return &Engine{} }

// Now is the virtual time: Epoch plus the time of the event being run, or of
// the last event run, or the instant a RunUntil stopped at.
func (e *Engine) Now() time.Time { return Epoch.Add(time.Duration(e.now)) }

// Elapsed is Now minus Epoch.
func (e *Engine) Elapsed() time.Duration { return time.Duration(e.now) }

// Processed is the number of events run so far (cancelled events excluded).
func (e *Engine) Processed() uint64 { return e.processed }

// Pending is the number of events scheduled and neither run nor cancelled.
func (e *Engine) Pending() int { return len(e.heap) - e.dead }

// At schedules fn to run at virtual time t. A t before Now runs at Now, after
// the events already due then, as time.AfterFunc does with a negative
// duration: the clock never moves backwards.
func (e *Engine) At(t time.Time, fn func()) Timer {
	return e.schedule(sinceEpoch(t), fn)
}

// After schedules fn to run d after Now. A negative d counts as zero.
func (e *Engine) After(d time.Duration, fn func()) Timer {
	at := e.now
	if d > 0 {
		if d > math.MaxInt64-time.Duration(at) {
			at = math.MaxInt64
		} else {
			at += int64(d)
		}
	}
	return e.schedule(at, fn)
}

func sinceEpoch(t time.Time) int64 { return int64(t.Sub(Epoch)) }

func (e *Engine) schedule(at int64, fn func()) Timer {
	if fn == nil {
		panic("sim: scheduling a nil event function")
	}
	if at < e.now {
		at = e.now
	}
	e.seq++
	var s int32
	if n := len(e.free); n > 0 {
		s = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		if len(e.seqs) == math.MaxInt32 {
			panic("sim: too many pending events")
		}
		s = int32(len(e.seqs))
		e.seqs = append(e.seqs, 0)
		e.fns = append(e.fns, nil)
		e.ats = append(e.ats, 0)
	}
	e.seqs[s], e.fns[s], e.ats[s] = e.seq, fn, at
	e.push(event{at: at, seq: e.seq, slot: s})
	return Timer{e: e, slot: s, seq: e.seq}
}

// Cancel stops the event from running. It reports whether it did so: false
// when the event has already run (or is running), was already cancelled, or
// the Timer is the zero Timer.
func (t Timer) Cancel() bool {
	if !t.Pending() {
		return false
	}
	e := t.e
	e.seqs[t.slot], e.fns[t.slot] = 0, nil
	e.free = append(e.free, t.slot)
	e.dead++
	if e.dead > 1024 && e.dead > len(e.heap)/2 {
		e.compact()
	}
	return true
}

// Pending reports whether the event is still to run.
func (t Timer) Pending() bool {
	return t.e != nil && t.e.seqs[t.slot] == t.seq
}

// When is the virtual time the event is (or was) due at, while it is
// pending; the zero time.Time otherwise.
func (t Timer) When() time.Time {
	if !t.Pending() {
		return time.Time{}
	}
	return Epoch.Add(time.Duration(t.e.ats[t.slot]))
}

// Next is the time of the earliest pending event; ok is false when none is
// pending.
func (e *Engine) Next() (t time.Time, ok bool) {
	ev, ok := e.top()
	if !ok {
		return time.Time{}, false
	}
	return Epoch.Add(time.Duration(ev.at)), true
}

// Step runs the earliest pending event and reports whether there was one.
func (e *Engine) Step() bool {
	e.enter()
	defer e.leave()
	return e.step()
}

// Run runs events until none is pending or an event calls Stop.
func (e *Engine) Run() {
	e.enter()
	defer e.leave()
	for !e.stopped && e.step() {
	}
}

// RunUntil runs every event due at or before t, then moves the clock to t
// (when t is later than Now). If an event calls Stop, RunUntil returns at
// once and the clock stays at that event's time.
func (e *Engine) RunUntil(t time.Time) {
	e.enter()
	defer e.leave()
	limit := sinceEpoch(t)
	for !e.stopped {
		ev, ok := e.top()
		if !ok || ev.at > limit {
			break
		}
		e.step()
	}
	if !e.stopped && limit > e.now {
		e.now = limit
	}
}

// RunFor is RunUntil(Now() + d).
func (e *Engine) RunFor(d time.Duration) { e.RunUntil(e.Now().Add(d)) }

// Stop makes the Run, RunUntil or RunFor in progress return after the
// current event. Outside a run it does nothing.
func (e *Engine) Stop() {
	if e.running {
		e.stopped = true
	}
}

func (e *Engine) enter() {
	if e.running {
		panic("sim: Engine run from inside an event")
	}
	e.running = true
	e.stopped = false
}

func (e *Engine) leave() { e.running = false }

// step pops and runs the earliest live event.
func (e *Engine) step() bool {
	ev, ok := e.top()
	if !ok {
		return false
	}
	e.pop()
	fn := e.fns[ev.slot]
	// Free the slot before running, so the event's own Timer reports it as
	// no longer pending and the slot is reused by whatever fn schedules.
	e.seqs[ev.slot], e.fns[ev.slot] = 0, nil
	e.free = append(e.free, ev.slot)
	e.now = ev.at
	e.processed++
	fn()
	return true
}

// top returns the earliest live record, discarding dead ones above it.
func (e *Engine) top() (event, bool) {
	for len(e.heap) > 0 {
		ev := e.heap[0]
		if e.seqs[ev.slot] == ev.seq {
			return ev, true
		}
		e.pop()
		e.dead--
	}
	return event{}, false
}

func less(a, b event) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// push adds a record to the 4-ary heap (children of i are 4i+1 … 4i+4).
// A 4-ary heap is shallower than a binary one and its children share a cache
// line or two, which pays off at 100,000 pending events.
func (e *Engine) push(ev event) {
	h := append(e.heap, ev)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) >> 2
		if !less(ev, h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = ev
	e.heap = h
}

// pop removes the root record.
func (e *Engine) pop() {
	n := len(e.heap) - 1
	last := e.heap[n]
	e.heap = e.heap[:n]
	if n > 0 {
		siftDown(e.heap, 0, last)
	}
}

// siftDown places ev in the hole at i and moves it down to its place.
func siftDown(h []event, i int, ev event) {
	n := len(h)
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		end := min(c+4, n)
		for j := c + 1; j < end; j++ {
			if less(h[j], h[m]) {
				m = j
			}
		}
		if !less(h[m], ev) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = ev
}

// compact drops dead records and rebuilds the heap in O(n).
func (e *Engine) compact() {
	live := e.heap[:0]
	for _, ev := range e.heap {
		if e.seqs[ev.slot] == ev.seq {
			live = append(live, ev)
		}
	}
	clear(e.heap[len(live):])
	e.heap = live
	e.dead = 0
	if len(live) < 2 {
		return
	}
	for i := (len(live) - 2) / 4; i >= 0; i-- {
		siftDown(live, i, live[i])
	}
}
