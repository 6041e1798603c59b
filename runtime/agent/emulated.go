package agent

import (
	"context"
	"time"

	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Emulated agents answer pings from their resend loop instead of a
// goroutine per ping. Tens of thousands of them share a process; at
// 50,000 agents pinged every 15 s that was 3,333 goroutines a second,
// each growing its stack through a gRPC call (7-8 % of the benchmark
// process's CPU, with the stack copies). The loop's goroutine already has
// the stack and answers within the same wake-up; a ping that arrives
// while the loop is busy is answered once it is free, which the master's
// ping timeout (five intervals) leaves ample room for.

// pendingPong is the latest ping not yet answered (agent.mu).
type pendingPong struct {
	seq uint64
	due bool
}

// pongLater queues the answer to ping seq for the resend loop.
func (a *Agent) pongLater(seq uint64) {
	a.mu.Lock()
	a.pong = pendingPong{seq: seq, due: true}
	a.mu.Unlock()
	a.store.poke()
}

// answerPong sends the queued pong, if any, under header h.
func (a *Agent) answerPong(ctx context.Context, h *api.AgentHeader) {
	a.mu.Lock()
	p := a.pong
	a.pong = pendingPong{}
	a.mu.Unlock()
	if !p.due || h.SessionId == "" {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _ = a.client.Pong(cctx, &api.PongRequest{Header: h, Seq: p.seq})
}
