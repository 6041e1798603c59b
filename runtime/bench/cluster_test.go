package bench

import (
	"context"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// Emulated agents answer pings from their resend loops (agent/emulated.go)
// and the master stamps pongs off its loop: a cluster pinged every 50 ms
// with a 300 ms timeout must keep every agent through several timeouts.
func TestEmulatedAgentsAnswerPings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := StartCluster(ctx, ClusterConfig{
		Agents: 50, AgentsPerConn: 10, AgentResources: mezzo.MustParseResources("cpus:1;mem:128"),
		Master: master.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 300 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	// Wall time is the point here: several ping timeouts must pass.
	time.Sleep(time.Second)
	s, err := c.Master.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Totals.Agents != 50 {
		t.Fatalf("%d of 50 agents still registered after 1 s of 50 ms pings and a 300 ms timeout", s.Totals.Agents)
	}
}

// BenchmarkIdleAgents is what liveness alone costs: 2,000 emulated agents
// pinged every second (15x the default rate, so a few seconds show it),
// no frameworks, watched for 5 s. It reports the master loop's messages
// and busy time per second and the process's CPU per second. Pongs that
// go through the loop show up as loop-msgs/s ≈ agents per second.
func BenchmarkIdleAgents(b *testing.B) {
	const agents = 2000
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		c, err := StartCluster(ctx, ClusterConfig{
			Agents: agents, AgentResources: mezzo.MustParseResources("cpus:1;mem:128"),
			Master: master.Config{PingInterval: time.Second, PingTimeout: 30 * time.Second},
		})
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(3 * time.Second) // registration's own traffic settles
		loop0, cpu0, t0 := c.Master.LoopStats(), cpuTime(), time.Now()
		time.Sleep(5 * time.Second)
		loop, cpu, took := c.Master.LoopStats().Sub(loop0), cpuTime()-cpu0, time.Since(t0).Seconds()
		c.Stop()
		cancel()
		b.ReportMetric(float64(loop.Messages)/took, "loop-msgs/s")
		b.ReportMetric(ms(loop.Busy())/took, "loop-busy-ms/s")
		b.ReportMetric(ms(cpu)/took, "cpu-ms/s")
	}
}
