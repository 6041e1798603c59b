package alloc

import (
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// AgentAwarePolicy is an optional extension of [Policy] for policies that
// decide by how well a framework fits an agent, not only by rank: packing
// policies such as [Tetris]. A Policy that does not implement it is run on
// the rank-only path, which is unchanged and pays nothing for this one.
//
// For each agent, the allocator lists every framework eligible for it (active,
// not suppressed, not filtered, allowed by the policy, MinResources fit, and
// its role's quota limit leaves something to offer) in the policy's Rank
// order, roles first and then frameworks within a role, and asks Choose which
// one receives the agent's free resources. The receiver is re-ranked at once
// and, if the agent still has allocatable resources (a quota limit trimmed
// the offer), the list is built again for the rest.
//
// Choose must be a pure function of its arguments, like Rank. An index out of
// range is read as 0, the first framework in rank order.
type AgentAwarePolicy interface {
	Policy
	Choose(agent AgentFit, cands []Candidate) int
}

// AgentFit is what an AgentAwarePolicy sees of the agent being offered.
type AgentFit struct {
	Agent AgentRef
	// Free is what the agent has unallocated now; Total its capacity.
	Free, Total mezzo.Resources
}

// Candidate is one framework competing for an agent.
type Candidate struct {
	Framework FrameworkRef
	// Client is the framework as Rank sees it; Role is its role's client.
	Client, Role Client
	// Demand is the framework's stated task size: its
	// FrameworkInfo.Constraints.MinResources, empty when it states none.
	Demand mezzo.Resources
	// Offer is what the framework would be offered: the agent's free
	// resources trimmed to its role's quota limit and to other roles'
	// unmet guarantees.
	Offer mezzo.Resources
}

// allocateByFit is allocateFair for an AgentAwarePolicy: the same
// eligibility, quota trimming and minimum allocatable check, but the policy
// picks the receiver among all eligible frameworks.
func (a *Allocator) allocateByFit(now time.Time, ag *agent, unmet mezzo.Resources, pol AgentAwarePolicy, out []mezzo.Offer) []mezzo.Offer {
	var cands []Candidate
	var fws []*framework
	for ag.allocatable {
		cands, fws = cands[:0], fws[:0]
		for i := 0; i < a.roleOrder.len(); i++ {
			r := a.roleOrder.at(i)
			if r.members == 0 {
				continue
			}
			res := capToLimit(ag.available, r)
			if !unmet.IsEmpty() {
				res = a.keepHeadroom(res, r, unmet)
			}
			if res.IsEmpty() || (len(a.minAllocatable) > 0 && !res.ContainsAny(a.minAllocatable)) {
				continue
			}
			roleClient := a.client(RoleLevel, r.name, r.cfg.Weight, r.allocated, r.nOffers)
			for j := 0; j < r.frameworks.len(); j++ {
				fw := r.frameworks.at(j)
				if !a.eligible(fw, ag) {
					continue
				}
				cands = append(cands, Candidate{
					Framework: FrameworkRef{ID: fw.id, Role: r.name, Ordinal: fw.ordinal, Count: a.registered},
					Client:    a.client(FrameworkLevel, string(fw.id), 1, fw.allocated, fw.nOffers),
					Role:      roleClient,
					Demand:    fw.info.Constraints.MinResources,
					Offer:     res,
				})
				fws = append(fws, fw)
			}
		}
		if len(cands) == 0 {
			break
		}
		k := pol.Choose(AgentFit{
			Agent: AgentRef{ID: ag.id, Attributes: ag.info.Attributes, Ordinal: ag.ordinal, Count: a.liveAgents},
			Free:  ag.available, Total: ag.total,
		}, cands)
		if k < 0 || k >= len(cands) {
			k = 0
		}
		out = append(out, a.makeOffer(now, fws[k], ag, cands[k].Offer))
	}
	return out
}
