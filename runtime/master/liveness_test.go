package master_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

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
