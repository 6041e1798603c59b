package master

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// A loop too busy to take its ping ticks (a ticker drops what its reader
// misses) must still ping every agent within the interval: which agents
// are due is read off the clock, not counted in ticks. Driven by hand on a
// master that is not running, with virtual times.
func TestPingRoundKeepsTimeWhenTicksAreMissed(t *testing.T) {
	const interval = 15 * time.Second
	m, err := New(Config{Listen: "127.0.0.1:0", PingInterval: interval, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m.pingTick() // sets the slices
	res := api.ResourcesToProto(mezzo.MustParseResources("cpus:1;mem:128"))
	var outs []*outbox[*api.AgentEvent]
	for i := range 1000 {
		out := newOutbox[*api.AgentEvent]()
		if _, err := m.subscribeAgent(&api.AgentSubscribeRequest{Agent: &api.AgentInfo{Hostname: fmt.Sprintf("h%d", i), Resources: res}}, out, secretDigest(newSecret()), ""); err != nil {
			t.Fatal(err)
		}
		out.next(t.Context()) // the Registered event
		outs = append(outs, out)
	}
	pinged := func() int {
		n := 0
		for _, o := range outs {
			o.mu.Lock()
			for _, ev := range o.q {
				if ev.GetPing() != nil {
					n++
				}
			}
			o.q = nil
			o.mu.Unlock()
		}
		return n
	}
	// Heard from one interval ago: due for pings (agents heard from within
	// the interval are skipped), far from the 75 s timeout.
	t0 := time.Now()
	for _, ag := range m.agents {
		ag.live.seen.Store(t0.Add(-interval).UnixNano())
	}
	m.pingAgents(t0)
	first := pinged()
	if first == 0 || first > 1000/10 {
		t.Fatalf("the first slice pinged %d of 1,000 agents; want a small share (%d slices an interval)", first, m.ping.slices)
	}
	// Every tick in between missed: the next one, late in the interval,
	// must catch up with the whole round.
	m.pingAgents(t0.Add(interval - interval/time.Duration(m.ping.slices)))
	if got := first + pinged(); got != 1000 {
		t.Fatalf("%d of 1,000 agents pinged in the interval after missed ticks; want all", got)
	}
}
