package master

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Agent liveness. Every agent is pinged once per PingInterval and must
// answer (or make any other call) within PingTimeout. Two things keep this
// cheap at tens of thousands of agents:
//
//   - Pongs do not enter the loop. An agent's registration publishes a
//     liveness record (session, principal, last heard from) that the Pong
//     handler checks and stamps on its own goroutine; the loop only reads
//     the stamp when it pings. Before, each pong was a closure, a wake-up
//     and a turn of the loop: at 50,000 agents and 15 s pings, 3,333 loop
//     turns per second, as many as the tasks being scheduled.
//   - Agents heard from within the last interval (a status update, any
//     call) are not pinged, up to maxSkippedPings rounds in a row: their
//     liveness is already known. A busy agent (two 30 s tasks) calls every
//     few seconds, so in a busy cluster two pings in three are skipped.
//     Every agent still gets an event at least every maxSkippedPings+1
//     intervals, well inside the five intervals of silence after which an
//     agent gives its master up.
//   - Pings are spread over the interval. The loop pings a slice of the
//     agents every PingInterval/pingSlices instead of all of them at once,
//     so their pongs (and the agents' work) arrive as a trickle rather than
//     a burst that fills the inbox in front of every other call.

// pingSlice is the target period between two slices of pings; the slices
// per interval are bounded so short test intervals still ping every agent
// once per interval.
const (
	pingSlice       = 100 * time.Millisecond
	maxPingSlices   = 256
	maxSkippedPings = 2
)

// liveness is what the Pong handler may touch off the loop. session and
// principal are fixed once published; seen is the last time the agent was
// heard from (Unix nanoseconds).
type liveness struct {
	session   string
	principal string
	seen      atomic.Int64
	skipped   int // rounds in a row not pinged; loop only
}

func newLiveness(session string, now time.Time) *liveness {
	l := &liveness{session: session}
	l.seen.Store(now.UnixNano())
	return l
}

func (l *liveness) stamp(now time.Time) { l.seen.Store(now.UnixNano()) }

func (l *liveness) silentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, l.seen.Load()))
}

// pinger is the loop's state of the ping round in progress.
type pinger struct {
	slices int
	ring   []mezzo.AgentID // this round's agents, sorted
	next   int             // index in ring of the next agent to ping
	start  time.Time       // when this round began
	live   sync.Map        // mezzo.AgentID → *liveness, read by Pong handlers
}

// pingSlices is how many slices a ping interval is cut into.
func pingSlices(interval time.Duration) int {
	return min(max(int(interval/pingSlice), 1), maxPingSlices)
}

// pingTick is the period of the loop's ping ticker.
func (m *Master) pingTick() time.Duration {
	m.ping.slices = pingSlices(m.cfg.PingInterval)
	return max(m.cfg.PingInterval/time.Duration(m.ping.slices), time.Millisecond)
}

// publishLiveness lets Pong handlers find the agent's new registration.
// It runs on the loop once the registration is complete (principal set).
func (m *Master) publishLiveness(ag *agentRec) {
	ag.live.principal = ag.principal
	m.ping.live.Store(ag.id, ag.live)
}

// forgetLiveness withdraws a removed agent's record.
func (m *Master) forgetLiveness(ag *agentRec) {
	if ag.live != nil {
		m.ping.live.CompareAndDelete(ag.id, ag.live)
	}
}

// pong stamps the agent that answered a ping. It runs on the handler's
// goroutine and takes nothing from the loop.
func (m *Master) pong(ctx context.Context, h *api.AgentHeader) error {
	v, ok := m.ping.live.Load(mezzo.AgentID(h.GetAgentId()))
	if !ok {
		return errAgentUnknown(h)
	}
	l := v.(*liveness)
	if err := m.checkAgentCall(ctx, h, l.session, l.principal); err != nil {
		return err
	}
	l.stamp(time.Now())
	return nil
}

// pingAgents runs on every ping tick: it pings the agents of this round
// now due and removes those of them silent for longer than the ping
// timeout. A round (every agent once) takes one ping interval; agents that
// register during a round join the next one (registration counts as being
// heard from).
func (m *Master) pingAgents(now time.Time) {
	p := &m.ping
	if p.next >= len(p.ring) {
		m.pingSeq++
		p.ring = p.ring[:0]
		for id := range m.agents {
			p.ring = append(p.ring, id)
		}
		sort.Slice(p.ring, func(i, j int) bool { return p.ring[i] < p.ring[j] })
		p.next, p.start = 0, now
		// Records the loop no longer holds (replaced wholesale on
		// recovery) must not answer pongs.
		p.live.Range(func(k, v any) bool {
			if ag := m.agents[k.(mezzo.AgentID)]; ag == nil || ag.live != v {
				p.live.CompareAndDelete(k, v)
			}
			return true
		})
	}
	// The agents due are those whose share of the round has begun, by the
	// clock rather than by counting ticks: a loop too busy to take every
	// tick (a ticker drops what its reader misses) catches up on the next
	// one instead of stretching the round past the ping timeout.
	tick := m.cfg.PingInterval / time.Duration(max(p.slices, 1))
	end := len(p.ring)
	if el := now.Sub(p.start) + tick; el < m.cfg.PingInterval {
		end = min(int((int64(len(p.ring))*int64(el)+int64(m.cfg.PingInterval)-1)/int64(m.cfg.PingInterval)), len(p.ring))
	}
	end = max(end, p.next)
	ping := &api.AgentEvent{Event: &api.AgentEvent_Ping_{Ping: &api.AgentEvent_Ping{Seq: m.pingSeq}}}
	for _, id := range p.ring[p.next:end] {
		ag := m.agents[id]
		if ag == nil {
			continue
		}
		if silent := ag.live.silentFor(now); silent > m.cfg.PingTimeout {
			m.removeAgent(ag, fmt.Sprintf("agent %s did not answer pings for %v", ag.id, silent.Round(time.Millisecond)))
			continue
		}
		if ag.live.skipped < maxSkippedPings && ag.live.silentFor(now) < m.cfg.PingInterval {
			ag.live.skipped++
			continue
		}
		ag.live.skipped = 0
		// One event shared by the slice: the outboxes only read it.
		ag.send(ping)
	}
	p.next = end
}
