package service

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/workloads/internal/fakedriver"
)

var (
	t0   = time.Date(2011, 3, 30, 0, 0, 0, 0, time.UTC)
	node = mezzo.Cpus(4).Add(mezzo.MemMB(8192))
	size = mezzo.Cpus(1).Add(mezzo.MemMB(512))
)

// harness runs a service against the fake driver, acting as the master:
// every offer round offers nodes, launched tasks report RUNNING, kills
// report KILLED.
type harness struct {
	t      *testing.T
	s      *Scheduler
	d      *fakedriver.FakeDriver
	seen   int // launched tasks already reported running
	kills  int // kills already answered
	offers int
}

func newHarness(t *testing.T, load []Step) *harness {
	s, err := New(Config{TaskResources: size, Load: load})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, s: s, d: fakedriver.New(t0)}
	s.Registered(h.d, "fw")
	return h
}

// round offers n nodes (if not suppressed) and answers launches and kills.
func (h *harness) round(n int) {
	if !h.d.Suppressed {
		var os []mezzo.Offer
		for i := 0; i < n; i++ {
			h.offers++
			os = append(os, fakedriver.Offer(fmt.Sprint("o", h.offers), fmt.Sprint("a", i), node))
		}
		h.s.ResourceOffers(h.d, os)
	}
	tasks := h.d.LaunchedTasks()
	for ; h.seen < len(tasks); h.seen++ {
		h.s.StatusUpdate(h.d, fakedriver.Status(tasks[h.seen], mezzo.TaskRunning, nil))
	}
	for ; h.kills < len(h.d.Kills); h.kills++ {
		h.s.StatusUpdate(h.d, mezzo.TaskStatus{TaskID: h.d.Kills[h.kills], State: mezzo.TaskKilled})
	}
}

func (h *harness) at(dur time.Duration) {
	h.d.Advance(dur)
	h.round(3)
}

func TestTracksLoadCurveUpAndDown(t *testing.T) {
	h := newHarness(t, []Step{{At: 0, Instances: 5}, {At: time.Minute, Instances: 10}, {At: 2 * time.Minute, Instances: 3}, {At: 3 * time.Minute, Instances: 0}})
	h.at(0)
	if got := h.s.Running(); got != 5 {
		t.Fatalf("running %d at t=0, want 5", got)
	}
	if !h.d.Suppressed {
		t.Error("at the target but offers not suppressed")
	}
	h.at(time.Minute)
	if got := h.s.Running(); got != 10 {
		t.Fatalf("running %d at 1m, want 10", got)
	}
	h.at(time.Minute)
	if got := h.s.Running(); got != 3 || len(h.d.Kills) != 7 {
		t.Fatalf("running %d with %d kills at 2m, want 3 and 7", got, len(h.d.Kills))
	}
	// Newest killed first: the survivors are the first three launched.
	for _, id := range h.d.Kills {
		if id == "service-0" || id == "service-1" || id == "service-2" {
			t.Errorf("killed %s, one of the oldest", id)
		}
	}
	if h.s.Done() {
		t.Error("done before the curve ended")
	}
	h.at(time.Minute)
	if !h.s.Done() || !h.d.Stopped {
		t.Errorf("curve ended at 0: done=%v stopped=%v", h.s.Done(), h.d.Stopped)
	}
	if h.s.Restarts() != 0 {
		t.Errorf("%d restarts without failures", h.s.Restarts())
	}
	pts := h.s.Points()
	if last := pts[len(pts)-1]; last.Live != 0 || last.Killed != 10 || last.Launched != 10 {
		t.Errorf("last point %+v", last)
	}
}

func TestReplacesFailedAndLostInstances(t *testing.T) {
	h := newHarness(t, []Step{{At: 0, Instances: 4}})
	h.at(0)
	tasks := h.d.LaunchedTasks()
	h.s.StatusUpdate(h.d, fakedriver.Status(tasks[0], mezzo.TaskLost, nil))
	h.s.StatusUpdate(h.d, fakedriver.Status(tasks[1], mezzo.TaskFailed, nil))
	h.s.StatusUpdate(h.d, fakedriver.Status(tasks[1], mezzo.TaskFailed, nil)) // duplicate delivery
	if h.s.Live() != 2 || h.d.Suppressed {
		t.Fatalf("after two losses: live %d suppressed %v, want 2 and offers revived", h.s.Live(), h.d.Suppressed)
	}
	h.at(time.Second)
	if h.s.Running() != 4 || h.s.Restarts() != 2 || len(h.d.LaunchedTasks()) != 6 {
		t.Errorf("running %d restarts %d launched %d, want 4, 2, 6", h.s.Running(), h.s.Restarts(), len(h.d.LaunchedTasks()))
	}
}

func TestDeterministic(t *testing.T) {
	load := []Step{{At: 0, Instances: 7}, {At: 10 * time.Second, Instances: 2}, {At: 20 * time.Second, Instances: 9}}
	run := func() []string {
		h := newHarness(t, load)
		for i := 0; i < 30; i++ {
			h.at(time.Second)
		}
		return h.d.Log
	}
	if a, b := run(), run(); !reflect.DeepEqual(a, b) {
		t.Error("same curve and offers, different calls")
	}
}

func TestRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{
		{Load: []Step{{Instances: 1}}},
		{TaskResources: size},
		{TaskResources: size, Load: []Step{{Instances: -1}}},
		{TaskResources: size, Load: []Step{{At: time.Minute, Instances: 1}, {At: time.Second, Instances: 2}}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted a bad config", c)
		}
	}
}
