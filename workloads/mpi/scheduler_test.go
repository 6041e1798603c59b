package mpi

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/workloads/internal/fakedriver"
)

var t0 = time.Date(2011, 3, 30, 0, 0, 0, 0, time.UTC)

var node = mezzo.Cpus(4).Add(mezzo.MemMB(8192))

func cluster(n int) mezzo.Resources {
	var r mezzo.Resources
	for i := 0; i < n; i++ {
		r = r.Add(node)
	}
	return r
}

func job(id string, tasks int, submit time.Duration) Job {
	return Job{ID: id, Submit: submit, Tasks: tasks, TaskResources: mezzo.Cpus(4).Add(mezzo.MemMB(1024)), Duration: time.Minute}
}

func start(t *testing.T, cfg Config) (*Scheduler, *fakedriver.FakeDriver) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := fakedriver.New(t0)
	s.Registered(d, "fw")
	return s, d
}

var offerSeq int

func offers(agents ...int) []mezzo.Offer {
	out := make([]mezzo.Offer, len(agents))
	for i, a := range agents {
		offerSeq++
		out[i] = fakedriver.Offer(fmt.Sprintf("o%d", offerSeq), fmt.Sprintf("a%d", a), node)
	}
	return out
}

func TestGangLaunchesOnlyWhenComplete(t *testing.T) {
	s, d := start(t, Config{Cluster: cluster(8), Jobs: []Job{job("j", 4, 0)}, MaxTasksPerAgent: 1})
	s.ResourceOffers(d, offers(1, 2, 3))
	if len(d.Launches) != 0 || len(d.Declines) != 0 {
		t.Fatalf("with 3 of 4 nodes: launches %v declines %v, want nothing (hold)", d.Launches, d.Declines)
	}
	if got := s.Held().Get(mezzo.CPUs); got != 12 {
		t.Errorf("held %v cpus, want 12", got)
	}
	s.ResourceOffers(d, offers(4, 5))
	tasks := d.LaunchedTasks()
	if len(tasks) != 4 {
		t.Fatalf("launched %d tasks, want the whole gang of 4", len(tasks))
	}
	agents := map[mezzo.AgentID]bool{}
	for _, task := range tasks {
		agents[task.AgentID] = true
	}
	if len(agents) != 4 {
		t.Errorf("tasks on %d agents, want one per agent", len(agents))
	}
	if len(d.Declines) != 1 {
		t.Errorf("declines %v, want the surplus fifth offer back", d.Declines)
	}
	if !d.Suppressed {
		t.Error("queue empty but offers not suppressed")
	}
	for _, task := range tasks {
		s.StatusUpdate(d, fakedriver.Status(task, mezzo.TaskRunning, nil))
		s.StatusUpdate(d, fakedriver.Status(task, mezzo.TaskFinished, nil))
	}
	if !s.Done() || !d.Stopped || s.Jobs()[0].Finish.IsZero() || !s.InUse().IsEmpty() {
		t.Errorf("after all tasks finished: done=%v stopped=%v %+v inUse=%v", s.Done(), d.Stopped, s.Jobs()[0], s.InUse())
	}
}

func TestReleasesHeldOffersAfterTimeout(t *testing.T) {
	s, d := start(t, Config{Cluster: cluster(8), Jobs: []Job{job("j", 4, 0)}, HoldTimeout: 20 * time.Second, RetryAfter: 7 * time.Second})
	s.ResourceOffers(d, offers(1, 2))
	d.Advance(19 * time.Second)
	if len(d.Declines) != 0 {
		t.Fatal("released before the timeout")
	}
	d.Advance(time.Second)
	if len(d.Declines) != 2 || !s.Held().IsEmpty() {
		t.Fatalf("after timeout: declines %v held %v, want both released", d.Declines, s.Held())
	}
	for _, dc := range d.Declines {
		if dc.Filters.Refuse != 7*time.Second {
			t.Errorf("released with filter %v, want RetryAfter", dc.Filters.Refuse)
		}
	}
	if len(d.Launches) != 0 || s.Jobs()[0].Releases != 1 {
		t.Errorf("launches %v releases %d", d.Launches, s.Jobs()[0].Releases)
	}
	// It tries again when offers come back.
	s.ResourceOffers(d, offers(1, 2, 3, 4))
	if len(d.LaunchedTasks()) != 4 {
		t.Errorf("retry launched %d tasks, want 4", len(d.LaunchedTasks()))
	}
}

func TestRespectsCap(t *testing.T) {
	// A quarter of 8 nodes is 2 nodes: a 4-node job never gathers.
	s, d := start(t, Config{Cluster: cluster(8), Cap: 0.25, Jobs: []Job{job("big", 4, 0), job("small", 2, 0)}, MaxTasksPerAgent: 1})
	s.ResourceOffers(d, offers(1, 2, 3, 4, 5, 6, 7, 8))
	if got := s.Held().Get(mezzo.CPUs); got > 8 {
		t.Fatalf("holds %v cpus, cap is 8", got)
	}
	if len(d.Launches) != 0 {
		t.Fatal("launched a partial gang")
	}
	d.Advance(30 * time.Second) // release; big steps behind small
	s.ResourceOffers(d, offers(1, 2, 3))
	if n := len(d.LaunchedTasks()); n != 2 {
		t.Fatalf("small job launched %d tasks, want 2", n)
	}
	if got := s.InUse().Add(s.Held()).Get(mezzo.CPUs); got > 8 {
		t.Errorf("in use + held = %v cpus, over the cap of 8", got)
	}
}

func TestStrictFIFOKeepsHeadGathering(t *testing.T) {
	for _, strict := range []bool{false, true} {
		s, d := start(t, Config{Cluster: cluster(8), StrictFIFO: strict, Jobs: []Job{job("big", 6, 0), job("small", 1, 0)}})
		s.ResourceOffers(d, offers(1, 2))
		d.Advance(30 * time.Second)
		s.ResourceOffers(d, offers(1))
		launched := len(d.LaunchedTasks())
		if strict && launched != 0 {
			t.Errorf("strict FIFO: small job jumped the queue")
		}
		if !strict && launched != 1 {
			t.Errorf("default queue: small job did not run after big timed out (%d tasks)", launched)
		}
	}
}

func TestJobArrivesAtSubmitTime(t *testing.T) {
	s, d := start(t, Config{Cluster: cluster(8), Jobs: []Job{job("late", 1, 10*time.Second)}})
	if !d.Suppressed {
		t.Error("nothing to run yet but offers not suppressed")
	}
	s.ResourceOffers(d, offers(1))
	if len(d.Launches) != 0 || len(d.Declines) != 1 {
		t.Fatal("used an offer before the job arrived")
	}
	d.Advance(10 * time.Second)
	if d.Suppressed || s.Jobs()[0].Submit != t0.Add(10*time.Second) {
		t.Fatalf("arrival: suppressed=%v submit=%v", d.Suppressed, s.Jobs()[0].Submit)
	}
	s.ResourceOffers(d, offers(1))
	if len(d.LaunchedTasks()) != 1 {
		t.Error("job not launched after it arrived")
	}
}

func TestLostTaskRestartsWholeGang(t *testing.T) {
	s, d := start(t, Config{Cluster: cluster(8), Jobs: []Job{job("j", 3, 0)}})
	s.ResourceOffers(d, offers(1, 2, 3))
	first := d.LaunchedTasks()
	s.StatusUpdate(d, fakedriver.Status(first[1], mezzo.TaskLost, nil))
	if len(d.Kills) != 2 {
		t.Fatalf("kills %v, want the other 2 tasks", d.Kills)
	}
	for _, id := range d.Kills {
		s.StatusUpdate(d, mezzo.TaskStatus{TaskID: id, State: mezzo.TaskKilled})
	}
	if !s.InUse().IsEmpty() {
		t.Errorf("in use %v after every task ended", s.InUse())
	}
	s.ResourceOffers(d, offers(4, 5, 6))
	second := d.LaunchedTasks()[3:]
	if len(second) != 3 || s.Jobs()[0].Attempts != 2 {
		t.Fatalf("relaunch: %d tasks, attempts %d", len(second), s.Jobs()[0].Attempts)
	}
	for _, task := range second {
		s.StatusUpdate(d, fakedriver.Status(task, mezzo.TaskFinished, nil))
	}
	if !s.Done() {
		t.Error("not done after the second gang finished")
	}
}

// TestRandomOffersNeverPartialAndDeterministic drives the scheduler with a
// seeded stream of offers, finishes and failures, checking after every step
// that no partial gang is launched and the cap holds; two runs must match.
func TestRandomOffersNeverPartialAndDeterministic(t *testing.T) {
	run := func() []string {
		offerSeq = 0
		r := rand.New(rand.NewPCG(7, 7))
		var jobs []Job
		for i := 0; i < 12; i++ {
			jobs = append(jobs, job(fmt.Sprintf("j%d", i), 1+r.IntN(5), time.Duration(r.IntN(120))*time.Second))
		}
		const capShare = 0.5
		s, d := start(t, Config{Cluster: cluster(10), Cap: capShare, Jobs: jobs, MaxTasksPerAgent: 1})
		var running []mezzo.TaskInfo
		for step := 0; step < 400 && !s.Done(); step++ {
			before := len(d.LaunchedTasks())
			switch r.IntN(3) {
			case 0:
				s.ResourceOffers(d, offers(r.IntN(10), r.IntN(10)))
			case 1:
				if len(running) > 0 {
					k := r.IntN(len(running))
					state := mezzo.TaskFinished
					if r.IntN(10) == 0 {
						state = mezzo.TaskFailed
					}
					s.StatusUpdate(d, fakedriver.Status(running[k], state, nil))
					running = append(running[:k], running[k+1:]...)
				}
			default:
				d.Advance(time.Duration(1+r.IntN(20)) * time.Second)
			}
			for _, id := range d.Kills {
				for k, task := range running {
					if task.ID == id {
						s.StatusUpdate(d, fakedriver.Status(task, mezzo.TaskKilled, nil))
						running = append(running[:k], running[k+1:]...)
						break
					}
				}
			}
			d.Kills = nil
			launched := d.LaunchedTasks()[before:]
			running = append(running, launched...)
			if len(launched) > 0 {
				byJob := map[string]int{}
				for _, task := range launched {
					byJob[task.Labels["job"]]++
				}
				for _, j := range jobs {
					if n := byJob[j.ID]; n != 0 && n != j.Tasks {
						t.Fatalf("step %d: job %s launched %d of %d tasks", step, j.ID, n, j.Tasks)
					}
				}
			}
			if got := s.InUse().Add(s.Held()).Get(mezzo.CPUs); got > capShare*40 {
				t.Fatalf("step %d: in use + held %v cpus over the cap", step, got)
			}
		}
		if s.completed < 3 {
			t.Fatalf("only %d jobs completed; the stream did not exercise gangs", s.completed)
		}
		return d.Log
	}
	a, b := run(), run()
	if len(a) < 20 {
		t.Fatalf("only %d calls; the stream did not exercise the scheduler", len(a))
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different calls")
	}
}

func TestRejectsBadConfig(t *testing.T) {
	good := job("j", 1, 0)
	for _, c := range []Config{
		{Jobs: []Job{good}},
		{Cluster: cluster(1), Cap: 1.5},
		{Cluster: cluster(1), Jobs: []Job{good, good}},
		{Cluster: cluster(1), Jobs: []Job{{ID: "x", Tasks: 0, TaskResources: node}}},
		{Cluster: cluster(1), Jobs: []Job{{ID: "x", Tasks: 1}}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted a bad config", c)
		}
	}
}
