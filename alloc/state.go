package alloc

import (
	"fmt"

	"github.com/mezzo-cluster/mezzo"
)

// FrameworkState is a read-only view of one framework's allocation.
type FrameworkState struct {
	ID         mezzo.FrameworkID
	Role       string
	Active     bool
	Suppressed bool
	Offered    mezzo.Resources
	Used       mezzo.Resources
	// DominantShare is the framework's DRF share of the cluster.
	DominantShare float64
	Offers        int // outstanding
	Filters       int // active decline filters
}

// AgentState is a read-only view of one agent.
type AgentState struct {
	ID        mezzo.AgentID
	Active    bool
	Total     mezzo.Resources
	Available mezzo.Resources
	Offered   mezzo.Resources
	Used      mezzo.Resources
}

// Totals sums the cluster's scalar resources: what agents have, what is
// offered, what tasks use, and what is free (on active agents). Ports are
// per agent and not summed.
type Totals struct {
	Total, Offered, Used, Free mezzo.Resources
	Agents, Frameworks, Offers int
}

// Totals returns cluster-wide sums.
func (a *Allocator) Totals() Totals {
	t := Totals{Total: a.total, Free: a.freeTotal(), Agents: a.liveAgents, Frameworks: len(a.fwOrder), Offers: len(a.offers)}
	var allocated mezzo.Resources
	for _, fw := range a.fwOrder {
		t.Used = t.Used.Add(fw.usedSum)
		allocated = allocated.Add(fw.allocated)
	}
	t.Offered = allocated.Sub(t.Used)
	return t
}

// Frameworks returns every framework's allocation, in registration order.
func (a *Allocator) Frameworks() []FrameworkState {
	out := make([]FrameworkState, 0, len(a.fwOrder))
	for _, fw := range a.fwOrder {
		out = append(out, a.frameworkState(fw))
	}
	return out
}

// Framework returns one framework's allocation.
func (a *Allocator) Framework(id mezzo.FrameworkID) (FrameworkState, bool) {
	fw, ok := a.frameworks[id]
	if !ok {
		return FrameworkState{}, false
	}
	return a.frameworkState(fw), true
}

func (a *Allocator) frameworkState(fw *framework) FrameworkState {
	s := FrameworkState{
		ID: fw.id, Role: fw.role.name, Active: fw.active, Suppressed: fw.suppressed,
		Offers: len(fw.offers), Filters: len(fw.filters),
		DominantShare: fw.allocated.DominantShare(a.total),
	}
	s.Used = fw.usedSum
	s.Offered = fw.allocated.Sub(fw.usedSum)
	return s
}

// Agents returns every agent, in the order they were added.
func (a *Allocator) Agents() []AgentState {
	out := make([]AgentState, 0, a.liveAgents)
	for _, ag := range a.agentSlots {
		if ag == nil {
			continue
		}
		// Free, offered and used add up to the total (Check verifies it),
		// so offered needs no walk over the agent's offers.
		out = append(out, AgentState{ID: ag.id, Active: ag.active, Total: ag.total, Available: ag.available,
			Used: ag.usedSum, Offered: ag.total.Sub(ag.available).Sub(ag.usedSum)})
	}
	return out
}

// Offer returns an outstanding offer.
func (a *Allocator) Offer(id mezzo.OfferID) (mezzo.Offer, bool) {
	o, ok := a.offers[id]
	if !ok {
		return mezzo.Offer{}, false
	}
	return o.public(), true
}

// Check verifies the allocator's invariants: on every agent, free plus
// offered plus used is exactly its total; every framework's and role's
// allocation is the sum of its offers and use; the cached counters agree
// with a recount. It is for tests and debugging; it costs a full pass.
func (a *Allocator) Check() error {
	fwAlloc := map[mezzo.FrameworkID]mezzo.Resources{}
	fwUsed := map[mezzo.FrameworkID]mezzo.Resources{}
	var free mezzo.Resources
	for _, ag := range a.agentSlots {
		if ag == nil {
			continue
		}
		sum := ag.available
		for _, o := range ag.offers {
			sum = sum.Add(o.resources)
			fwAlloc[o.fw.id] = fwAlloc[o.fw.id].Add(o.resources.ScalarPart())
		}
		var used mezzo.Resources
		for fid := range ag.users {
			u := a.frameworks[fid].used[ag.slot]
			used = used.Add(u)
			fwUsed[fid] = fwUsed[fid].Add(u.ScalarPart())
			fwAlloc[fid] = fwAlloc[fid].Add(u.ScalarPart())
		}
		if !used.Equal(ag.usedSum) {
			return fmt.Errorf("agent %s: used sum %s, recount %s", ag.id, ag.usedSum, used)
		}
		sum = sum.Add(used)
		if !sum.Equal(ag.total) {
			return fmt.Errorf("agent %s: free %s + offered + used = %s, want total %s", ag.id, ag.available, sum, ag.total)
		}
		if ag.active {
			free = free.Add(ag.available.ScalarPart())
		}
		blocked := 0
		for _, g := range ag.groups {
			if g.applies != g.refused.Contains(ag.available) {
				return fmt.Errorf("agent %s: stale filter group", ag.id)
			}
			if g.applies {
				blocked += g.offerable
			}
		}
		if blocked != ag.blocked {
			return fmt.Errorf("agent %s: blocked count %d, recount %d", ag.id, ag.blocked, blocked)
		}
	}
	if !a.freeStale && !free.Equal(a.free) {
		return fmt.Errorf("free total %s, recount %s", a.free, free)
	}
	roleAlloc := map[string]mezzo.Resources{}
	offerable := 0
	for _, fw := range a.fwOrder {
		if !fw.usedSum.Equal(fwUsed[fw.id]) {
			return fmt.Errorf("framework %s: used sum %s, recount %s", fw.id, fw.usedSum, fwUsed[fw.id])
		}
		if !fw.allocated.Equal(fwAlloc[fw.id]) {
			return fmt.Errorf("framework %s: allocated %s, recount %s", fw.id, fw.allocated, fwAlloc[fw.id])
		}
		roleAlloc[fw.role.name] = roleAlloc[fw.role.name].Add(fw.allocated)
		if fw.isOfferable() {
			offerable++
		}
	}
	for name, r := range a.roles {
		if !r.allocated.Equal(roleAlloc[name]) {
			return fmt.Errorf("role %s: allocated %s, recount %s", name, r.allocated, roleAlloc[name])
		}
	}
	if offerable != a.offerable {
		return fmt.Errorf("offerable frameworks %d, recount %d", a.offerable, offerable)
	}
	return nil
}
