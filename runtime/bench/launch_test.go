package bench

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// TestRunLaunch runs the launch benchmark end to end on a small cluster:
// every task runs and finishes exactly once, nothing is left allocated,
// and the figures are well-formed.
func TestRunLaunch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const agents, frameworks, tasks = 10, 2, 200
	res, err := RunLaunch(ctx, LaunchConfig{
		Agents: agents, Frameworks: frameworks, Tasks: tasks, TaskDuration: time.Millisecond,
		// Two slots per agent: 200 tasks need ten waves over 20 slots, so
		// most launches wait for resources another task freed.
		AgentResources: mezzo.MustParseResources("cpus:2;mem:256"),
		TaskResources:  mezzo.MustParseResources("cpus:1;mem:128"),
		Timeout:        20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Errorf("driver errors: %v", res.Errors)
	}
	if res.Running != tasks || res.Finished != tasks || res.Incomplete != 0 || res.Duplicates != 0 {
		t.Errorf("running %d, finished %d, incomplete %d, duplicates %d; want %d, %d, 0, 0",
			res.Running, res.Finished, res.Incomplete, res.Duplicates, tasks, tasks)
	}
	if got := res.Updates["TASK_RUNNING"] + res.Updates["TASK_FINISHED"]; got != 2*tasks || len(res.Updates) != 2 {
		t.Errorf("updates %v; want %d RUNNING and %d FINISHED only", res.Updates, tasks, tasks)
	}
	if !res.Conserved {
		t.Errorf("allocator not back to its start: start %+v, end %+v", res.StartTotals, res.EndTotals)
	}
	if res.StartTotals.Agents != agents || !res.StartTotals.Free.Equal(res.StartTotals.Total) {
		t.Errorf("start totals %+v: want %d agents, all free", res.StartTotals, agents)
	}
	if res.Agents != agents || res.Frameworks != frameworks || res.Tasks != tasks || res.Benchmark != "launch" {
		t.Errorf("echoed config wrong: %+v", res)
	}

	positive := map[string]float64{
		"tasks/s": res.TasksPerSecond, "launches/s": res.LaunchesPerSecond, "elapsed": res.ElapsedSeconds,
		"launch p50": res.LaunchLatency.P50, "launch p99": res.LaunchLatency.P99,
		"offer p50": res.OfferLatency.P50, "offer p99": res.OfferLatency.P99,
		"heap/agent": res.AgentHeapBytes, "goroutines/agent": res.AgentGoroutines, "cpu": res.CPUSeconds,
	}
	for name, v := range positive {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s = %v; want a positive finite number", name, v)
		}
	}
	for name, q := range map[string]Quantiles{"launch": res.LaunchLatency, "offer": res.OfferLatency} {
		if !(q.P50 <= q.P90 && q.P90 <= q.P99 && q.P99 <= q.Max) {
			t.Errorf("%s latency quantiles out of order: %+v", name, q)
		}
	}
	if res.LaunchLatency.Samples != tasks {
		t.Errorf("%d launch latency samples; want one per task (%d)", res.LaunchLatency.Samples, tasks)
	}
	// 20 slots for 200 tasks: at least 180 launches used freed resources,
	// and every sample is a free that an offer covered.
	if s := res.OfferLatency.Samples; s < tasks-2*agents || s > tasks {
		t.Errorf("%d offer latency samples; want between %d and %d", s, tasks-2*agents, tasks)
	}
	if res.LaunchSeconds > res.ElapsedSeconds {
		t.Errorf("launch phase %.3fs longer than the run %.3fs", res.LaunchSeconds, res.ElapsedSeconds)
	}

	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"benchmark":"launch","agents":10,`) {
		t.Errorf("JSON starts %.60s", b)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("JSON does not read back: %v", err)
	}
	var table strings.Builder
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tasks/s", "offer latency", "p99"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestLaunchConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  LaunchConfig
		want string
	}{
		{LaunchConfig{Agents: 0, Tasks: 1}, "--agents"},
		{LaunchConfig{Agents: 1, Frameworks: 3, Tasks: 2}, "--tasks"},
		{LaunchConfig{Agents: 1, Tasks: 1, TaskDuration: -time.Second}, "negative task duration"},
		{LaunchConfig{Agents: 1, Tasks: 1, AgentResources: mezzo.Cpus(1), TaskResources: mezzo.Cpus(2)}, "does not fit"},
	} {
		_, err := RunLaunch(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v; want one mentioning %q", tc.cfg, err, tc.want)
		}
	}
}

func TestFits(t *testing.T) {
	have := mezzo.MustParseResources("cpus:8;mem:1000")
	for _, tc := range []struct {
		need  string
		limit int
		want  int
	}{
		{"cpus:1;mem:100", 100, 8},
		{"cpus:1;mem:300", 100, 3},
		{"cpus:0.3", 100, 26},
		{"cpus:1", 5, 5},
		{"gpus:1", 100, 0},
	} {
		if got := fits(have, mezzo.MustParseResources(tc.need), tc.limit); got != tc.want {
			t.Errorf("fits(%s, %s, %d) = %d; want %d", have, tc.need, tc.limit, got, tc.want)
		}
	}
}

func TestQuantiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	q := quantiles(d)
	if q.Samples != 100 || q.P50 != 50 || q.P90 != 90 || q.P99 != 99 || q.Max != 100 {
		t.Errorf("quantiles of 1..100 ms = %+v", q)
	}
	if q := quantiles(nil); q != (Quantiles{}) {
		t.Errorf("quantiles of nothing = %+v", q)
	}
}
