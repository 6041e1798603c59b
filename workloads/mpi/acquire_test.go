package mpi

import (
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/workloads/internal/fakedriver"
)

func acquireCfg(jobs ...Job) Config {
	return Config{Cluster: cluster(8), Jobs: jobs, MaxTasksPerAgent: 1, StrictFIFO: true, AcquireNodes: true}
}

func TestAcquireKeepsNodesAndStartsWhenComplete(t *testing.T) {
	s, d := start(t, acquireCfg(job("a", 3, 0), job("b", 3, 0)))
	s.ResourceOffers(d, offers(1, 2))
	if got := len(d.LaunchedTasks()); got != 2 || len(d.Declines) != 0 {
		t.Fatalf("2 of 3 nodes: %d daemons launched, declines %v; want both nodes taken at once", got, d.Declines)
	}
	d.Advance(10 * time.Minute) // no timeout gives them back
	if len(d.Kills) != 0 || s.Jobs()[0].Releases != 0 || !s.Jobs()[0].Start.IsZero() {
		t.Fatalf("partial gang: kills %v, %+v; want nodes kept and the job waiting", d.Kills, s.Jobs()[0])
	}
	started := d.Now()
	s.ResourceOffers(d, offers(3))
	if got := s.Jobs()[0].Start; !got.Equal(started) {
		t.Fatalf("job a started at %v, want %v when the third node came", got, started)
	}
	// b gathers its own nodes while a runs.
	s.ResourceOffers(d, offers(4, 5, 6, 7))
	if got := len(d.LaunchedTasks()); got != 6 || len(d.Declines) != 1 {
		t.Fatalf("%d daemons, declines %v; want 3 for b and the fourth offer declined", got, d.Declines)
	}
	if !d.Suppressed {
		t.Error("both jobs have their nodes but offers are not suppressed")
	}
	d.Advance(time.Minute)
	if s.Jobs()[0].Finish.Sub(started) != time.Minute || s.Jobs()[1].Finish.Sub(started) != time.Minute || !s.Done() || !d.Stopped {
		t.Errorf("after a minute: %+v, done %v stopped %v", s.Jobs(), s.Done(), d.Stopped)
	}
}

func TestAcquireHandsDaemonsToNextJobAndKillsTheRest(t *testing.T) {
	small := job("small", 2, 30*time.Second)
	s, d := start(t, acquireCfg(job("big", 3, 0), small))
	s.ResourceOffers(d, offers(1, 2, 3))
	d.Advance(time.Minute) // big finishes; small arrived at 30 s and waits for nodes
	if got := len(d.LaunchedTasks()); got != 3 {
		t.Fatalf("%d daemons launched; small should reuse big's", got)
	}
	if !s.Jobs()[1].Start.Equal(t0.Add(time.Minute)) {
		t.Errorf("small started %v, want when big ended (%v)", s.Jobs()[1].Start, t0.Add(time.Minute))
	}
	if len(d.Kills) != 1 {
		t.Fatalf("kills %v, want the one daemon small does not need", d.Kills)
	}
	before := s.InUse()
	s.StatusUpdate(d, mezzo.TaskStatus{TaskID: d.Kills[0], State: mezzo.TaskKilled})
	if got := before.Sub(s.InUse()).Get(mezzo.CPUs); got != 4 {
		t.Errorf("killed daemon returned %v cpus, want 4", got)
	}
}

func TestAcquireLostNodeRequeuesRunningJob(t *testing.T) {
	s, d := start(t, acquireCfg(job("j", 2, 0)))
	s.ResourceOffers(d, offers(1, 2))
	first := d.LaunchedTasks()
	d.Advance(30 * time.Second)
	s.StatusUpdate(d, fakedriver.Status(first[0], mezzo.TaskLost, nil))
	if d.Suppressed || len(d.Kills) != 0 {
		t.Fatalf("after a lost node: suppressed %v kills %v; want offers revived and the other node kept", d.Suppressed, d.Kills)
	}
	d.Advance(time.Minute) // the old attempt's end must not complete the job
	if s.Done() {
		t.Fatal("job completed short-handed")
	}
	s.ResourceOffers(d, offers(3))
	restart := d.Now()
	d.Advance(time.Minute)
	r := s.Jobs()[0]
	if !s.Done() || r.Attempts != 2 || !r.Finish.Equal(restart.Add(time.Minute)) {
		t.Errorf("after the retry: done %v, %+v; want attempt 2 finishing a minute after %v", s.Done(), r, restart)
	}
}

func TestAcquireRespectsCap(t *testing.T) {
	cfg := acquireCfg(job("big", 4, 0))
	cfg.Cap = 0.25 // 8 of 32 cpus: two 4-cpu nodes
	s, d := start(t, cfg)
	s.ResourceOffers(d, offers(1, 2, 3, 4, 5))
	if got := s.Acquired().Get(mezzo.CPUs); got != 8 || len(d.Declines) != 3 {
		t.Errorf("acquired %v cpus with %d declines, want the cap of 8 and the rest declined", got, len(d.Declines))
	}
}

func TestAcquireRejectsCommand(t *testing.T) {
	j := job("j", 1, 0)
	j.Command = &mezzo.CommandInfo{Value: "true"}
	if _, err := New(acquireCfg(j)); err == nil {
		t.Error("AcquireNodes accepted a job with a Command")
	}
}
