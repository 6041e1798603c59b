package pi

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// recordingExecutorDriver is a fake mezzo.ExecutorDriver that keeps updates.
type recordingExecutorDriver struct {
	mu      sync.Mutex
	updates []mezzo.TaskStatus
	stopped bool
	changed chan struct{}
}

func newRecordingExecutorDriver() *recordingExecutorDriver {
	return &recordingExecutorDriver{changed: make(chan struct{}, 100)}
}

func (r *recordingExecutorDriver) SendStatusUpdate(s mezzo.TaskStatus) error {
	r.mu.Lock()
	r.updates = append(r.updates, s)
	r.mu.Unlock()
	r.changed <- struct{}{}
	return nil
}
func (r *recordingExecutorDriver) SendFrameworkMessage([]byte) error { return nil }
func (r *recordingExecutorDriver) Stop() error {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	return nil
}

// waitTerminal waits for n terminal updates, failing the test after 10 s.
func (r *recordingExecutorDriver) waitTerminal(t *testing.T, n int) []mezzo.TaskStatus {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		terminal := 0
		for _, u := range r.updates {
			if u.State.Terminal() {
				terminal++
			}
		}
		out := append([]mezzo.TaskStatus(nil), r.updates...)
		r.mu.Unlock()
		if terminal >= n {
			return out
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("only %d of %d terminal updates: %v", terminal, n, out)
		}
	}
}

func piTask(id string, samples int64) mezzo.TaskInfo {
	return mezzo.TaskInfo{ID: mezzo.TaskID(id), Executor: &mezzo.ExecutorInfo{Kind: Kind}, Data: EncodeSamples(samples)}
}

func TestExecutorReportsRunningThenFinishedWithEstimate(t *testing.T) {
	for _, inline := range []bool{false, true} {
		d := newRecordingExecutorDriver()
		e := &Executor{Inline: inline}
		e.LaunchTask(d, piTask("pi-0", 200_000))
		ups := d.waitTerminal(t, 1)
		if len(ups) != 2 || ups[0].State != mezzo.TaskRunning || ups[1].State != mezzo.TaskFinished {
			t.Fatalf("inline=%v: updates %v, want RUNNING then FINISHED", inline, ups)
		}
		v, err := ParseEstimate(ups[1].Data)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(v-math.Pi) > 0.05 {
			t.Errorf("inline=%v: estimate %v is not near π", inline, v)
		}
		if v != Sample("pi-0", 200_000) {
			t.Errorf("inline=%v: estimate %v differs from Sample for the same task ID", inline, v)
		}
	}
}

func TestExecutorSeedsFromTaskID(t *testing.T) {
	if Sample("a", 1000) == Sample("b", 1000) && Sample("c", 1000) == Sample("d", 1000) {
		t.Error("different task IDs give the same samples")
	}
	if Sample("a", 1000) != Sample("a", 1000) {
		t.Error("same task ID gives different samples")
	}
}

func TestExecutorFailsBadData(t *testing.T) {
	d := newRecordingExecutorDriver()
	e := NewExecutor()
	task := piTask("x", 1)
	task.Data = []byte("lots")
	e.LaunchTask(d, task)
	ups := d.waitTerminal(t, 1)
	if ups[0].State != mezzo.TaskFailed || ups[0].Message == "" {
		t.Fatalf("got %v, want TASK_FAILED with a message", ups)
	}
}

func TestExecutorKillAndShutdown(t *testing.T) {
	d := newRecordingExecutorDriver()
	e := NewExecutor()
	e.LaunchTask(d, piTask("long", math.MaxInt64))
	e.KillTask(d, "long")
	ups := d.waitTerminal(t, 1)
	if last := ups[len(ups)-1]; last.State != mezzo.TaskKilled {
		t.Fatalf("after kill: %v, want TASK_KILLED", ups)
	}
	e.LaunchTask(d, piTask("long2", math.MaxInt64))
	e.Shutdown(d) // must not hang: it kills the task and waits for it
	d.waitTerminal(t, 2)
	if !d.stopped {
		t.Error("Shutdown did not stop the driver")
	}
}
