package master_test

import (
	"context"
	"fmt"
	"strings"
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
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// A scheduler that does not read its stream is disconnected with
// ResourceExhausted once its queue is full; another scheduler gets every
// one of its events meanwhile.
func TestSlowSchedulerIsDisconnected(t *testing.T) {
	const limit = 16
	m, addr := startMaster(t, master.Config{MaxSchedulerEvents: limit})
	ag := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:1;mem:64"})
	fast := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "fast"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slowStream, err := schedulerClient(t, addr, "").Subscribe(ctx, &api.SubscribeRequest{Framework: api.FrameworkToProto(mezzo.FrameworkInfo{Name: "slow"})})
	if err != nil {
		t.Fatal(err)
	}
	var slow mezzo.FrameworkID
	for deadline := time.Now().Add(wait); slow == ""; time.Sleep(10 * time.Millisecond) {
		for _, f := range snapshot(t, m).Frameworks {
			if f.Name == "slow" {
				slow = f.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow scheduler never registered")
		}
	}

	// Big updates fill the stream's flow-control window, then the queue.
	big := strings.Repeat("x", 64<<10)
	const n = 60
	for i := range n {
		ag.Report(slow, mezzo.TaskID(fmt.Sprintf("s%d", i)), mezzo.TaskRunning, big)
		ag.Report(fast.ID, mezzo.TaskID(fmt.Sprintf("f%d", i)), mezzo.TaskRunning, "small")
	}
	for i := range n {
		id := mezzo.TaskID(fmt.Sprintf("f%d", i))
		if st := fast.NextUpdate(id, wait); st.State != mezzo.TaskRunning {
			t.Fatalf("fast scheduler: %s %v, want TASK_RUNNING", id, st.State)
		}
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		connected := false
		for _, f := range snapshot(t, m).Frameworks {
			if f.ID == slow {
				connected = f.Connected
			}
		}
		if !connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow scheduler is still connected after its queue overflowed")
		}
	}
	// Reading now: what was already in flight, then the error.
	got := 0
	for {
		_, err := slowStream.Recv()
		if err == nil {
			got++
			continue
		}
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "event queue full") {
			t.Fatalf("slow scheduler's stream ended with %v, want ResourceExhausted: event queue full", err)
		}
		break
	}
	if got >= n+1 {
		t.Errorf("slow scheduler read %d events, all of them: nothing was dropped", got)
	}
}

// Agent calls are rate-limited per principal by a limiter of their own:
// one principal's flood is refused, another's calls and the scheduler
// calls are not.
func TestAgentCallsRateLimitedPerPrincipal(t *testing.T) {
	creds, err := security.ParseCredentials("creds.json", []byte(testCredentials))
	if err != nil {
		t.Fatal(err)
	}
	opts := security.ServerOptions(security.ServerConfig{
		Auth:       &security.Authenticator{Credentials: creds, Required: true},
		MoreLimits: []security.MethodLimit{{Limiter: security.NewLimiter(0.001, 3, nil), Methods: master.AgentLimitedMethods}},
	})
	_, addr := startMaster(t, master.Config{ServerOptions: opts})
	pong := func(token string) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), as(token))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, err = api.NewAgentAPIClient(conn).Pong(ctx, &api.PongRequest{Header: &api.AgentHeader{AgentId: "nobody"}})
		return err
	}
	for i := range 3 {
		if err := pong("tok-agent-secret-000003"); status.Code(err) == codes.ResourceExhausted {
			t.Fatalf("pong %d within the burst: %v", i+1, err)
		}
	}
	if err := pong("tok-agent-secret-000003"); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), `"agent"`) {
		t.Errorf("pong past the burst: %v, want ResourceExhausted naming principal agent", err)
	}
	if err := pong("tok-other-secret-000002"); status.Code(err) == codes.ResourceExhausted {
		t.Errorf("another principal's pong: %v, want it not limited", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := schedulerClient(t, addr, "tok-agent-secret-000003").Revive(ctx, &api.ReviveRequest{Header: &api.CallHeader{FrameworkId: "x"}}); status.Code(err) == codes.ResourceExhausted {
		t.Errorf("a scheduler call of the same principal: %v, want it not limited by the agent limiter", err)
	}
}
