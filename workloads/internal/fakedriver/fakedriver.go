package fakedriver

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Launch is one recorded LaunchTasks call.
type Launch struct {
	At      time.Time
	Offers  []mezzo.OfferID
	Tasks   []mezzo.TaskInfo
	Filters mezzo.Filters
}

// Decline is one recorded DeclineOffer call.
type Decline struct {
	At      time.Time
	Offer   mezzo.OfferID
	Filters mezzo.Filters
}

// FakeDriver records what a scheduler asks of the master. It is not safe for
// concurrent use, like the callbacks it serves.
type FakeDriver struct {
	now    time.Time
	seq    int
	timers []*timer

	Launches   []Launch
	Declines   []Decline
	Kills      []mezzo.TaskID
	Acks       []mezzo.TaskStatus
	Messages   [][]byte
	Revives    int
	Suppresses int
	Suppressed bool
	Stopped    bool
	// Log is every call in order, one line each, for comparing runs.
	Log []string
}

// New returns a driver whose clock reads start.
func New(start time.Time) *FakeDriver { return &FakeDriver{now: start} }

type timer struct {
	at    time.Time
	seq   int
	f     func()
	fired bool
	d     *FakeDriver
}

func (t *timer) Stop() bool {
	if t.fired {
		return false
	}
	t.fired = true
	return true
}

func (d *FakeDriver) logf(format string, args ...any) {
	d.Log = append(d.Log, d.now.Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

// LaunchTasks records the launch.
func (d *FakeDriver) LaunchTasks(offers []mezzo.OfferID, tasks []mezzo.TaskInfo, f mezzo.Filters) error {
	d.Launches = append(d.Launches, Launch{At: d.now, Offers: append([]mezzo.OfferID(nil), offers...), Tasks: append([]mezzo.TaskInfo(nil), tasks...), Filters: f})
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = string(t.ID) + "@" + string(t.AgentID)
	}
	d.logf("launch %v [%s]", offers, strings.Join(ids, " "))
	return nil
}

// DeclineOffer records the decline.
func (d *FakeDriver) DeclineOffer(id mezzo.OfferID, f mezzo.Filters) error {
	d.Declines = append(d.Declines, Decline{At: d.now, Offer: id, Filters: f})
	d.logf("decline %s %v", id, f.Refuse)
	return nil
}

// ReviveOffers records a revive.
func (d *FakeDriver) ReviveOffers() error {
	d.Revives++
	d.Suppressed = false
	d.logf("revive")
	return nil
}

// SuppressOffers records a suppress.
func (d *FakeDriver) SuppressOffers() error {
	d.Suppresses++
	d.Suppressed = true
	d.logf("suppress")
	return nil
}

// KillTask records a kill; the test sends the TASK_KILLED update itself.
func (d *FakeDriver) KillTask(id mezzo.TaskID) error {
	d.Kills = append(d.Kills, id)
	d.logf("kill %s", id)
	return nil
}

// AcknowledgeStatusUpdate records the acknowledgement.
func (d *FakeDriver) AcknowledgeStatusUpdate(s mezzo.TaskStatus) error {
	d.Acks = append(d.Acks, s)
	return nil
}

// ReconcileTasks does nothing but log.
func (d *FakeDriver) ReconcileTasks([]mezzo.TaskStatus) error {
	d.logf("reconcile")
	return nil
}

// SendFrameworkMessage records the message.
func (d *FakeDriver) SendFrameworkMessage(_ mezzo.ExecutorID, _ mezzo.AgentID, data []byte) error {
	d.Messages = append(d.Messages, append([]byte(nil), data...))
	return nil
}

// Stop records that the framework stopped.
func (d *FakeDriver) Stop(bool) error {
	d.Stopped = true
	d.logf("stop")
	return nil
}

// Now is the fake clock.
func (d *FakeDriver) Now() time.Time { return d.now }

// AfterFunc queues f to run when the clock passes now+dur.
func (d *FakeDriver) AfterFunc(dur time.Duration, f func()) mezzo.Timer {
	d.seq++
	t := &timer{at: d.now.Add(dur), seq: d.seq, f: f, d: d}
	d.timers = append(d.timers, t)
	return t
}

// Advance moves the clock forward by dur, firing every timer that falls due
// on the way in (time, setting order), including timers those set.
func (d *FakeDriver) Advance(dur time.Duration) {
	end := d.now.Add(dur)
	for {
		t := d.next(end)
		if t == nil {
			break
		}
		t.fired = true
		d.now = t.at
		t.f()
	}
	d.now = end
}

func (d *FakeDriver) next(end time.Time) *timer {
	live := d.timers[:0]
	for _, t := range d.timers {
		if !t.fired {
			live = append(live, t)
		}
	}
	d.timers = live
	sort.SliceStable(d.timers, func(i, j int) bool {
		a, b := d.timers[i], d.timers[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		return a.seq < b.seq
	})
	if len(d.timers) == 0 || d.timers[0].at.After(end) {
		return nil
	}
	return d.timers[0]
}

// Pending is the number of timers not yet fired or stopped.
func (d *FakeDriver) Pending() int {
	n := 0
	for _, t := range d.timers {
		if !t.fired {
			n++
		}
	}
	return n
}

// LaunchedTasks is every task launched so far, in order.
func (d *FakeDriver) LaunchedTasks() []mezzo.TaskInfo {
	var out []mezzo.TaskInfo
	for _, l := range d.Launches {
		out = append(out, l.Tasks...)
	}
	return out
}

// Offer builds an offer of res on agent, for tests.
func Offer(id, agent string, res mezzo.Resources) mezzo.Offer {
	return mezzo.Offer{ID: mezzo.OfferID(id), AgentID: mezzo.AgentID(agent), Hostname: agent, Resources: res}
}

// Status builds a status update for a launched task.
func Status(t mezzo.TaskInfo, state mezzo.TaskState, data []byte) mezzo.TaskStatus {
	return mezzo.TaskStatus{TaskID: t.ID, AgentID: t.AgentID, State: state, Data: data}
}
