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
