package sim_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo/sim"
	"github.com/mezzo-cluster/mezzo/traces"
	"github.com/mezzo-cluster/mezzo/workloads/hadoop"
)

type runOpts struct {
	agents int
	jobs   []traces.Job
	delay  time.Duration
	seed   uint64
	check  bool
	hadoop int // instances
}

func syntheticJobs(t testing.TB, n int, seed uint64) []traces.Job {
	t.Helper()
	src, closer, err := traces.Open("synthetic:fb", traces.Options{Synthetic: traces.SyntheticOptions{Jobs: n, Seed: seed}})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	jobs, err := traces.ReadAll(src)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func runHadoop(t testing.TB, o runOpts) *sim.Result {
	t.Helper()
	s, err := sim.New(sim.Config{Agents: o.agents, Policy: "drf", Seed: o.seed, World: sim.WorldConfig{Check: o.check}})
	if err != nil {
		t.Fatal(err)
	}
	n := max(o.hadoop, 1)
	for i, share := range sim.SplitJobs(o.jobs, n) {
		name := "hadoop"
		if n > 1 {
			name += string(rune('a' + i))
		}
		cfg := hadoop.DefaultConfig()
		cfg.NodeDelay, cfg.RackDelay = o.delay, o.delay
		fw, err := hadoop.New(cfg, s.Storage(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddFramework(sim.FrameworkSpec{Name: name, Scheduler: fw, Jobs: share, Submit: fw.Submit, Done: fw.Done}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func outputs(t *testing.T, r *sim.Result) (jobs, summary []byte) {
	t.Helper()
	var a, b bytes.Buffer
	if err := r.WriteJobsCSV(&a); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteSummaryJSON(&b); err != nil {
		t.Fatal(err)
	}
	return a.Bytes(), b.Bytes()
}

func TestRunIsDeterministic(t *testing.T) {
	o := runOpts{agents: 40, jobs: syntheticJobs(t, 60, 7), delay: 3 * time.Second, seed: 11, hadoop: 2}
	j1, s1 := outputs(t, runHadoop(t, o))
	j2, s2 := outputs(t, runHadoop(t, o))
	if !bytes.Equal(j1, j2) {
		t.Error("jobs.csv differs between two runs with the same inputs")
	}
	if !bytes.Equal(s1, s2) {
		t.Errorf("summary.json differs:\n%s\n%s", s1, s2)
	}
	o.seed = 12
	j3, _ := outputs(t, runHadoop(t, o))
	if bytes.Equal(j1, j3) {
		t.Error("a different seed gave the same jobs.csv: the seed is not used")
	}
}

func TestRunConservesResourcesAndTasks(t *testing.T) {
	// Check mode runs alloc.Check after every event and, at the end,
	// compares tasks launched with tasks ended.
	jobs := syntheticJobs(t, 25, 3)
	failures := []sim.Failure{{Agent: "agent-0003", At: 30 * time.Second, Back: 200 * time.Second}, {Agent: "agent-0011", At: 90 * time.Second}}
	s, err := sim.New(sim.Config{Agents: 20, Policy: "drf", Seed: 5, World: sim.WorldConfig{Check: true, Failures: failures}})
	if err != nil {
		t.Fatal(err)
	}
	fw, err := hadoop.New(hadoop.DefaultConfig(), s.Storage("hadoop"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddFramework(sim.FrameworkSpec{Name: "hadoop", Scheduler: fw, Jobs: jobs, Submit: fw.Submit, Done: fw.Done}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	st := res.Stats
	if st.Launched == 0 || st.Launched != st.Ended {
		t.Fatalf("launched %d, ended %d", st.Launched, st.Ended)
	}
	want := 0
	for _, j := range jobs {
		want += j.Maps + j.Reduces
	}
	finished := 0
	for _, r := range res.Jobs {
		if !r.Completed {
			t.Errorf("job %s not completed", r.Job)
		}
		finished += r.Tasks
	}
	if finished != want {
		t.Errorf("%d tasks finished, want exactly one per map and reduce (%d)", finished, want)
	}
	if res.Summary.Completed != len(jobs) {
		t.Errorf("summary: %d of %d completed", res.Summary.Completed, len(jobs))
	}
}

func TestDelaySchedulingRaisesLocality(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds")
	}
	// As in the Mesos paper's locality experiment (Section 6.3), the jobs
	// are spread over 16 Hadoop instances sharing the cluster: each sees
	// the agents a few at a time, as others' tasks end, which is when
	// taking the first slot offered costs locality.
	jobs := syntheticJobs(t, 150, 42)
	loc := func(delay time.Duration) float64 {
		r := runHadoop(t, runOpts{agents: 100, jobs: jobs, delay: delay, seed: 1, hadoop: 16})
		return r.Summary.Frameworks[0].Locality
	}
	without, with := loc(0), loc(5*time.Second)
	t.Logf("node-local maps: %.1f%% without delay, %.1f%% with 5 s delays", 100*without, 100*with)
	if with-without < 0.20 {
		t.Fatalf("locality %.2f with delay scheduling vs %.2f without: want a gap of at least 20 points", with, without)
	}
}

func TestRunRejectsUnknownPolicy(t *testing.T) {
	_, err := sim.New(sim.Config{Agents: 3, Policy: "lottery"})
	if err == nil || !strings.Contains(err.Error(), "drf") {
		t.Fatalf("error %v, want one listing the known policies", err)
	}
}
