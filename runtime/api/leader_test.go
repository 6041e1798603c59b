package api_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo/runtime/api"
)

func TestLeaderHintRoundTrip(t *testing.T) {
	err := api.NotLeaderError("m1", &api.LeaderHint{Address: "10.0.0.2:5050", MasterId: "m2", Epoch: 7})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("code %v; want Unavailable", status.Code(err))
	}
	h := api.LeaderHintFrom(err)
	if h.GetAddress() != "10.0.0.2:5050" || h.GetEpoch() != 7 {
		t.Fatalf("hint %v; want address 10.0.0.2:5050 epoch 7", h)
	}
	if api.LeaderHintFrom(errors.New("plain")) != nil {
		t.Fatal("a plain error carries a hint")
	}
}

// standby answers every Revive with a NotLeader error naming leader.
type standby struct {
	api.UnimplementedSchedulerAPIServer
	leader string
}

func (s *standby) Revive(context.Context, *api.ReviveRequest) (*api.Empty, error) {
	if s.leader == "" {
		return &api.Empty{}, nil
	}
	return nil, api.NotLeaderError("standby", &api.LeaderHint{Address: s.leader})
}

func serve(t *testing.T, s api.SchedulerAPIServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	api.RegisterSchedulerAPIServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestMasterConnFollowsHintThenRotates(t *testing.T) {
	leader := serve(t, &standby{})
	stby := serve(t, &standby{leader: leader})
	c, err := api.DialMasters([]string{stby + ", 127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cli := api.NewSchedulerAPIClient(c.Conn())
	ctx := context.Background()
	_, err = cli.Revive(ctx, &api.ReviveRequest{})
	if got := c.Failed(ctx, stby, err); got != leader {
		t.Fatalf("after the standby's answer went to %q; want the leader %q", got, leader)
	}
	if _, err := cli.Revive(ctx, &api.ReviveRequest{}); err != nil {
		t.Fatalf("call to the leader: %v", err)
	}
	if got := c.Failed(ctx, stby, errors.New("stale")); got != leader {
		t.Fatalf("a failure at an address already left moved the connection to %q", got)
	}
	if got := c.Failed(ctx, leader, errors.New("broken")); got != "127.0.0.1:1" {
		t.Fatalf("without a hint went to %q; want the next configured address", got)
	}
	// A failure reported by another client sharing the connection, after
	// it moved on, changes nothing; the next failure at the new address
	// must not send it back to the address that just failed.
	if got := c.Failed(ctx, leader, errors.New("broken")); got != "127.0.0.1:1" {
		t.Fatalf("a second report of the failure at the old address moved the connection to %q", got)
	}
	if got := c.Failed(ctx, "127.0.0.1:1", errors.New("refused")); got != stby {
		t.Fatalf("after 127.0.0.1:1 failed went to %q; want %q, the only address that has not failed", got, stby)
	}
	if _, err := api.DialMasters([]string{" , "}); err == nil {
		t.Fatal("DialMasters with no address succeeded")
	}
}

// TestMasterConnSkipsTheLeaderThatFailed: a connection that followed a hint
// to the second address, whose turn comes next, must not pick it again
// when it fails.
func TestMasterConnSkipsTheLeaderThatFailed(t *testing.T) {
	c, err := api.DialMasters([]string{"127.0.0.1:1", "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Use("127.0.0.1:2")
	if got := c.Failed(context.Background(), "127.0.0.1:2", errors.New("connection refused")); got != "127.0.0.1:1" {
		t.Fatalf("after the leader at 127.0.0.1:2 failed went to %q; want 127.0.0.1:1", got)
	}
}
