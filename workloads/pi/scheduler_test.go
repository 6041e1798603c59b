package pi

import (
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/workloads/internal/fakedriver"
)

var t0 = time.Date(2011, 3, 30, 0, 0, 0, 0, time.UTC)

// inlineDriver runs the real executor in process and collects its updates.
type inlineDriver struct {
	mu  sync.Mutex
	ups []mezzo.TaskStatus
}

func (r *inlineDriver) SendStatusUpdate(s mezzo.TaskStatus) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ups = append(r.ups, s)
	return nil
}
func (r *inlineDriver) SendFrameworkMessage([]byte) error { return nil }
func (r *inlineDriver) Stop() error                       { return nil }

// runPi offers agents of 4 cpus until the job is done, running every launched
// task through the real executor.
func runPi(t *testing.T, cfg Config) (*Scheduler, *fakedriver.FakeDriver) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := fakedriver.New(t0)
	s.Registered(d, "fw")
	exec := &Executor{Inline: true}
	for round := 0; round < 20 && !s.Done(); round++ {
		before := len(d.LaunchedTasks())
		s.ResourceOffers(d, []mezzo.Offer{
			fakedriver.Offer("o"+string(rune('a'+round))+"1", "a1", mezzo.Cpus(4).Add(mezzo.MemMB(1024))),
			fakedriver.Offer("o"+string(rune('a'+round))+"2", "a2", mezzo.Cpus(4).Add(mezzo.MemMB(1024))),
		})
		d.Advance(time.Second)
		for _, task := range d.LaunchedTasks()[before:] {
			ed := &inlineDriver{}
			exec.LaunchTask(ed, task)
			for _, u := range ed.ups {
				u.AgentID = task.AgentID
				s.StatusUpdate(d, u)
			}
		}
	}
	return s, d
}

func TestPiEstimatesFromRealExecutorRuns(t *testing.T) {
	s, d := runPi(t, Config{Tasks: 10, Samples: 200_000})
	if !s.Done() || !d.Stopped {
		t.Fatalf("done=%v stopped=%v, want both", s.Done(), d.Stopped)
	}
	if got := s.Estimate(); math.Abs(got-math.Pi) > 0.05 {
		t.Errorf("estimate %v is not within 0.05 of π", got)
	}
	r := s.Result()
	if r.Finished != 10 || r.Failed != 0 || r.Launched != 10 || r.Finish.IsZero() {
		t.Errorf("result %+v", r)
	}
	// 4 cpus per offer, 1 cpu per task: the first round fits 8 tasks.
	if n := len(d.Launches[0].Tasks); n != 4 {
		t.Errorf("first launch has %d tasks, want 4 (as many as fit)", n)
	}
	for _, task := range d.LaunchedTasks() {
		if task.Executor == nil || task.Executor.Kind != Kind {
			t.Fatalf("task %s does not name the pi executor", task.ID)
		}
	}
}

func TestPiAveragesResults(t *testing.T) {
	s, _ := New(Config{Tasks: 2})
	d := fakedriver.New(t0)
	s.Registered(d, "fw")
	s.ResourceOffers(d, []mezzo.Offer{fakedriver.Offer("o1", "a1", mezzo.Cpus(8).Add(mezzo.MemMB(512)))})
	tasks := d.LaunchedTasks()
	if len(tasks) != 2 {
		t.Fatalf("launched %d tasks, want 2", len(tasks))
	}
	if !d.Suppressed {
		t.Error("no pending tasks but offers not suppressed")
	}
	s.StatusUpdate(d, fakedriver.Status(tasks[0], mezzo.TaskRunning, nil))
	s.StatusUpdate(d, fakedriver.Status(tasks[0], mezzo.TaskFinished, EncodeEstimate(3.0)))
	s.StatusUpdate(d, fakedriver.Status(tasks[0], mezzo.TaskFinished, EncodeEstimate(9.0))) // duplicate delivery
	if s.Done() || d.Stopped {
		t.Fatal("done after one of two results")
	}
	s.StatusUpdate(d, fakedriver.Status(tasks[1], mezzo.TaskFinished, EncodeEstimate(3.5)))
	if got := s.Estimate(); got != 3.25 {
		t.Errorf("estimate %v, want mean 3.25", got)
	}
	if !s.Done() || !d.Stopped {
		t.Error("not done and stopped after all results")
	}
}

func TestPiDeclinesWhatDoesNotFitAndRetriesLost(t *testing.T) {
	s, _ := New(Config{Tasks: 1, MaxAttempts: 2})
	d := fakedriver.New(t0)
	s.Registered(d, "fw")
	s.ResourceOffers(d, []mezzo.Offer{
		fakedriver.Offer("small", "a1", mezzo.Cpus(0.5).Add(mezzo.MemMB(512))),
		fakedriver.Offer("big", "a2", mezzo.Cpus(2).Add(mezzo.MemMB(512))),
		fakedriver.Offer("extra", "a3", mezzo.Cpus(2).Add(mezzo.MemMB(512))),
	})
	if len(d.Declines) != 2 || d.Declines[0].Offer != "small" || d.Declines[1].Offer != "extra" {
		t.Fatalf("declines %+v, want small and extra", d.Declines)
	}
	first := d.LaunchedTasks()[0]
	s.StatusUpdate(d, fakedriver.Status(first, mezzo.TaskLost, nil))
	if d.Revives != 1 {
		t.Errorf("revives %d after a lost task, want 1", d.Revives)
	}
	s.ResourceOffers(d, []mezzo.Offer{fakedriver.Offer("again", "a3", mezzo.Cpus(2).Add(mezzo.MemMB(512)))})
	tasks := d.LaunchedTasks()
	if len(tasks) != 2 || tasks[1].ID == first.ID {
		t.Fatalf("retry launches %v, want a second task with a new ID", tasks)
	}
	s.StatusUpdate(d, fakedriver.Status(first, mezzo.TaskFinished, EncodeEstimate(3))) // stale attempt
	if s.Done() {
		t.Fatal("a stale attempt's result counted")
	}
	s.StatusUpdate(d, fakedriver.Status(tasks[1], mezzo.TaskFailed, nil))
	if !s.Done() || s.Result().Failed != 1 || !d.Stopped {
		t.Errorf("after the last attempt failed: %+v stopped=%v", s.Result(), d.Stopped)
	}
}

func TestPiDeterministic(t *testing.T) {
	_, d1 := runPi(t, Config{Tasks: 12, Samples: 1000})
	_, d2 := runPi(t, Config{Tasks: 12, Samples: 1000})
	if !reflect.DeepEqual(d1.Log, d2.Log) {
		t.Errorf("two runs differ:\n%v\n%v", d1.Log, d2.Log)
	}
}

func TestPiRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{}, {Tasks: -1}, {Tasks: 1, Samples: -5}, {Tasks: 1, MaxAttempts: -1}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted a bad config", c)
		}
	}
}
