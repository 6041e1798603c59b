package bench

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkLaunch launches b.N no-op tasks (duration 0) from two
// frameworks through a real master and emulated agents, and reports the
// figures CI gates on: tasks/s end to end, launch and offer latency p99.
// Cluster start-up is not timed. For stable figures fix the task count,
// e.g. -benchtime=20000x.
func BenchmarkLaunch(b *testing.B) {
	for _, agents := range []int{100, 1000} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			cfg := LaunchConfig{Agents: agents, Frameworks: 2, Tasks: max(b.N, 2), Timeout: 10 * time.Minute}
			if err := cfg.withDefaults(); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			rec := newRecorder(cfg.Tasks, cfg.TaskResources, nil)
			c, err := StartCluster(ctx, ClusterConfig{
				Agents: cfg.Agents, AgentResources: cfg.AgentResources, Master: cfg.Master, Logger: cfg.Logger,
				OnTerminalUpdate: rec.freedAt,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Stop()
			b.ResetTimer()
			res, err := runLaunch(ctx, cfg, c, rec)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.Incomplete != 0 || !res.Conserved {
				b.Fatalf("%d tasks incomplete, allocator conserved %v", res.Incomplete, res.Conserved)
			}
			b.ReportMetric(res.TasksPerSecond, "tasks/s")
			b.ReportMetric(res.LaunchLatency.P99, "launch-p99-ms")
			b.ReportMetric(res.OfferLatency.P99, "offer-p99-ms")
			b.ReportMetric(res.OfferLatency.P50, "offer-p50-ms")
			b.ReportMetric(res.AgentHeapBytes, "heap-B/agent")
		})
	}
}

// BenchmarkOffers runs the offer-latency benchmark at a small size (100
// agents of two slots, two frameworks, normal(1s, 250ms) tasks: 200 tasks/s
// offered, well below saturation) for a 3 s window per iteration, and
// reports its figures under the same names as `mezzo bench offers
// --bench-format`. Run with -benchtime 1x and -count for benchstat (make
// bench does).
func BenchmarkOffers(b *testing.B) {
	for i := 0; i < b.N; i++ {
		res, err := RunOffers(context.Background(), OffersConfig{
			Agents: 100, Frameworks: 2, Duration: 3 * time.Second, Warmup: time.Second,
			TaskDurations: Dist{Kind: "normal", Mean: time.Second, Stddev: 250 * time.Millisecond}, Seed: uint64(i + 1),
		})
		if err != nil {
			b.Fatal(err)
		}
		if i == b.N-1 {
			b.ReportMetric(res.OfferLatency.P50, "offer-p50-ms")
			b.ReportMetric(res.OfferLatency.P99, "offer-p99-ms")
			b.ReportMetric(res.LaunchLatency.P99, "launch-p99-ms")
			b.ReportMetric(res.TasksPerS, "tasks/s")
			b.ReportMetric(res.CycleMeanMS, "cycle-mean-ms")
			b.ReportMetric(res.MasterMSPerTask, "master-ms/task")
			b.ReportMetric(res.CPUPerTaskMS, "cpu-ms/task")
			b.ReportMetric(res.AgentHeapBytes, "heap-B/agent")
		}
	}
}
