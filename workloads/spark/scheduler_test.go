package spark

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
	node = mezzo.Cpus(2).Add(mezzo.MemMB(8192)) // two tasks per node
)

func lr(iterations int) Job {
	return Job{ID: "lr", Iterations: iterations, Blocks: []string{"b0", "b1", "b2", "b3", "b4", "b5"},
		FirstDuration: 174 * time.Second, IterDuration: 6 * time.Second}
}

type harness struct {
	s      *Scheduler
	d      *fakedriver.FakeDriver
	offers int
	seen   int
}

func newHarness(t *testing.T, cfg Config) *harness {
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{s: s, d: fakedriver.New(t0)}
	s.Registered(h.d, "fw")
	return h
}

func (h *harness) offer(agents ...int) []mezzo.TaskInfo {
	var os []mezzo.Offer
	for _, a := range agents {
		h.offers++
		os = append(os, fakedriver.Offer(fmt.Sprint("o", h.offers), fmt.Sprint("a", a), node))
	}
	h.s.ResourceOffers(h.d, os)
	tasks := h.d.LaunchedTasks()[h.seen:]
	h.seen += len(tasks)
	return tasks
}

func (h *harness) finish(tasks []mezzo.TaskInfo) {
	for _, t := range tasks {
		h.s.StatusUpdate(h.d, fakedriver.Status(t, mezzo.TaskRunning, nil))
		h.s.StatusUpdate(h.d, fakedriver.Status(t, mezzo.TaskFinished, nil))
	}
}

func TestFirstIterationReadsInputLaterOnesPreferCache(t *testing.T) {
	h := newHarness(t, Config{Jobs: []Job{lr(3)}})
	first := h.offer(1, 2, 3)
	if len(first) != 6 {
		t.Fatalf("first iteration launched %d tasks, want 6", len(first))
	}
	cachedOn := map[string]mezzo.AgentID{}
	for _, task := range first {
		if len(task.Input) != 1 || task.Duration != 174*time.Second {
			t.Fatalf("first-iteration task %s: input %v duration %v", task.ID, task.Input, task.Duration)
		}
		cachedOn[task.Input[0]] = task.AgentID
	}
	h.d.Advance(174 * time.Second)
	h.finish(first)
	if h.d.Suppressed {
		t.Fatal("second iteration started but offers stay suppressed")
	}

	// Only a2 offers: only the partitions it caches run, the rest wait.
	second := h.offer(2)
	if len(second) != 2 {
		t.Fatalf("a2 ran %d tasks, want its 2 cached partitions", len(second))
	}
	for _, task := range second {
		if task.AgentID != "a2" || len(task.Input) != 0 || task.Duration != 6*time.Second {
			t.Errorf("cached task %s on %s input %v duration %v", task.ID, task.AgentID, task.Input, task.Duration)
		}
	}
	if got := h.offer(4); len(got) != 0 {
		t.Fatalf("uncached agent a4 got %d tasks before the locality wait", len(got))
	}
	if d := h.d.Declines[len(h.d.Declines)-1]; d.Filters.Refuse > 3*time.Second {
		t.Errorf("declined for locality with a %v filter; it should come back within the wait", d.Filters.Refuse)
	}
	// The cached agents come: everything runs local.
	rest := h.offer(1, 3)
	for _, task := range rest {
		if cachedOn[task.Labels["block"]] != task.AgentID || task.Labels["cached"] != "true" {
			t.Errorf("task %s on %s not cached", task.ID, task.AgentID)
		}
	}
	if len(rest) != 4 {
		t.Fatalf("cached agents ran %d tasks, want 4", len(rest))
	}
	h.d.Advance(6 * time.Second)
	h.finish(append(second, rest...))
	r := h.s.Jobs()[0]
	if r.LocalTasks != 6 || len(r.IterationTimes) != 2 || r.IterationTimes[1] != 6*time.Second {
		t.Errorf("after 2 iterations: %+v", r)
	}
}

func TestFallsBackAfterLocalityWait(t *testing.T) {
	h := newHarness(t, Config{Jobs: []Job{lr(2)}, LocalityWait: 3 * time.Second})
	h.finish(h.offer(1, 2, 3))
	if got := h.offer(9); len(got) != 0 {
		t.Fatal("ran elsewhere without waiting")
	}
	h.d.Advance(3 * time.Second)
	moved := h.offer(9)
	if len(moved) != 2 {
		t.Fatalf("after the wait a9 ran %d tasks, want 2", len(moved))
	}
	for _, task := range moved {
		if len(task.Input) != 1 || task.Duration != 174*time.Second {
			t.Errorf("moved task %s must recompute from its block: input %v duration %v", task.ID, task.Input, task.Duration)
		}
	}
	h.finish(moved)
	h.finish(h.offer(2, 3))
	if !h.s.Done() || !h.d.Stopped {
		t.Errorf("done=%v stopped=%v", h.s.Done(), h.d.Stopped)
	}
	if r := h.s.Jobs()[0]; r.Tasks != 12 || r.LocalTasks != 4 || r.Finish.IsZero() {
		t.Errorf("result %+v, want 12 tasks, 4 local", r)
	}
}

func TestLostTaskLosesCacheAndReruns(t *testing.T) {
	h := newHarness(t, Config{Jobs: []Job{lr(2)}})
	first := h.offer(1, 2, 3)
	h.finish(first[1:])
	h.s.StatusUpdate(h.d, fakedriver.Status(first[0], mezzo.TaskLost, nil))
	again := h.offer(5)
	if len(again) != 1 || again[0].Input[0] != first[0].Input[0] {
		t.Fatalf("lost partition reran as %v, want the same block on a5", again)
	}
	h.finish(again)
	h.s.AgentLost(h.d, "a2")
	// Second iteration: the partition on a5 and a2's two (cache gone) are
	// not waiting for anyone but a5; a2's run anywhere at once.
	got := h.offer(7)
	if len(got) != 2 {
		t.Fatalf("a7 ran %d tasks, want the 2 partitions a2 cached", len(got))
	}
}

func TestDeterministic(t *testing.T) {
	run := func() []string {
		h := newHarness(t, Config{Jobs: []Job{lr(4), {ID: "late", Submit: 10 * time.Second, Iterations: 2, Blocks: []string{"x", "y", "z"}, FirstDuration: time.Minute, IterDuration: time.Second}}})
		for i := 0; i < 40; i++ {
			tasks := h.offer(i%5, (i+2)%5)
			h.d.Advance(time.Second)
			h.finish(tasks)
		}
		return h.d.Log
	}
	if a, b := run(), run(); !reflect.DeepEqual(a, b) {
		t.Error("same config and events, different launches")
	}
}

func TestRejectsBadConfig(t *testing.T) {
	for _, j := range []Job{{Iterations: 1, Blocks: []string{"b"}}, {ID: "x", Blocks: []string{"b"}}, {ID: "x", Iterations: 1}} {
		if _, err := New(Config{Jobs: []Job{j}}); err == nil {
			t.Errorf("job %+v accepted", j)
		}
	}
}
