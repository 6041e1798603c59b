package master_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
)

// Pongs are stamped off the loop and pings are spread over the interval;
// an agent that answers must stay, one that goes quiet must go, and a pong
// must name the agent's current session.
func TestPongsKeepAgentsAliveAndAreChecked(t *testing.T) {
	m, addr := startMaster(t, master.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
	talker := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "talker", Resources: "cpus:1;mem:128"})
	quiet := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "quiet", Resources: "cpus:1;mem:128"})
	quiet.Mute()

	select {
	case <-quiet.Ended():
	case <-time.After(wait):
		t.Fatal("an agent answering no pings was not removed")
	}
	// Three ping timeouts later the agent that answers is still there.
	time.Sleep(900 * time.Millisecond)
	snap := snapshot(t, m)
	if snap.Totals.Agents != 1 {
		t.Fatalf("%d agents registered; want the one answering pings", snap.Totals.Agents)
	}
	select {
	case <-talker.Ended():
		t.Fatal("the agent answering pings was removed")
	default:
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := api.NewAgentAPIClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, c := range []struct {
		h    *api.AgentHeader
		want codes.Code
	}{
		{&api.AgentHeader{AgentId: "nobody", SessionId: "s"}, codes.NotFound},
		{&api.AgentHeader{AgentId: string(talker.ID()), SessionId: "not-its-session"}, codes.FailedPrecondition},
		{&api.AgentHeader{AgentId: string(quiet.ID()), SessionId: "any"}, codes.NotFound},
	} {
		_, err := client.Pong(ctx, &api.PongRequest{Header: c.h, Seq: 1})
		if status.Code(err) != c.want {
			t.Errorf("pong from %s/%s: %v; want %s", c.h.AgentId, c.h.SessionId, err, c.want)
		}
	}
}

// An agent that keeps calling is alive whether or not it answers pings:
// the master skips pinging agents heard from within the interval, but
// still pings them every third round (so they hear from their master),
// and keeps them registered through several ping timeouts.
func TestAgentsThatCallArePingedLess(t *testing.T) {
	const interval = 200 * time.Millisecond
	m, addr := startMaster(t, master.Config{PingInterval: interval, PingTimeout: 10 * interval})
	idle := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "idle", Resources: "cpus:1;mem:128"})
	busy := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "busy", Resources: "cpus:1;mem:128"})
	busy.Mute()
	s := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "calls"})
	deadline := time.Now().Add(15 * interval)
	for i := 0; time.Now().Before(deadline); i++ {
		// Updates for a task the master does not know are acknowledged and
		// dropped, but they are calls from the agent all the same.
		busy.Report(s.ID, mezzo.TaskID(fmt.Sprintf("t%d", i)), mezzo.TaskRunning, "")
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-busy.Ended():
		t.Fatal("an agent calling every 20 ms was removed for not answering pings")
	default:
	}
	if snap := snapshot(t, m); snap.Totals.Agents != 2 {
		t.Fatalf("%d agents registered; want both", snap.Totals.Agents)
	}
	pi, pb := idle.Seen().Pings, busy.Seen().Pings
	if pi < 6 {
		t.Fatalf("the idle agent was pinged %d times in 15 intervals", pi)
	}
	if pb < 1 || pb > pi*2/3+1 {
		t.Errorf("the busy agent was pinged %d times, the idle one %d; want at least once and at most two thirds as often (skipping two rounds in three)", pb, pi)
	}
}
