package sim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo/traces"
)

// benchReplay replays jobs on agents agents with DRF and 5 s delay
// scheduling, reporting virtual events per wall second.
func benchReplay(b *testing.B, jobs []traces.Job, agents int) {
	b.ReportAllocs()
	var events uint64
	for b.Loop() {
		r := runHadoop(b, runOpts{agents: agents, jobs: jobs, delay: 5 * time.Second, seed: 1})
		events += r.Summary.Events
		if r.Summary.Completed != len(jobs) {
			b.Fatalf("%d of %d jobs completed", r.Summary.Completed, len(jobs))
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

func swimDay(b *testing.B) []traces.Job {
	src, err := traces.OpenFB2009(traces.TaskModel{})
	if err != nil {
		b.Fatal(err)
	}
	jobs, err := traces.ReadAll(src)
	if err != nil {
		b.Fatal(err)
	}
	return jobs
}

// BenchmarkSWIMDay replays SWIM's Facebook 2009 day (5,894 jobs) on the
// trace's 600 machines; the Agents100/3000 variants show how it scales.
func BenchmarkSWIMDay(b *testing.B) {
	jobs := swimDay(b)
	for _, n := range []int{100, 600, 3000} {
		b.Run(agentsName(n), func(b *testing.B) { benchReplay(b, jobs, n) })
	}
}

// BenchmarkSyntheticFB replays a synthetic Facebook workload of the same
// size (5,894 jobs) on 600 agents.
func BenchmarkSyntheticFB(b *testing.B) {
	jobs := syntheticJobs(b, 5894, 1)
	for _, n := range []int{100, 600, 3000} {
		b.Run(agentsName(n), func(b *testing.B) { benchReplay(b, jobs, n) })
	}
}

// BenchmarkSWIMJobs replays the first 1,000, 2,000 and all 5,894 jobs of
// the SWIM day on 600 agents: how the cost grows with the trace.
func BenchmarkSWIMJobs(b *testing.B) {
	jobs := swimDay(b)
	for _, n := range []int{1000, 2000, len(jobs)} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) { benchReplay(b, jobs[:n], 600) })
	}
}

func agentsName(n int) string {
	switch n {
	case 100:
		return "agents=100"
	case 600:
		return "agents=600"
	}
	return "agents=3000"
}
