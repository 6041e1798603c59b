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
