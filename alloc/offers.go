package alloc

import (
	"fmt"
	"sort"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Allocate runs one allocation cycle over every agent and returns the offers
// it made, in the order made. Expired decline filters are dropped first.
//
// Each agent's free resources go, in agent order, first to roles still short
// of their quota guarantee, then to the role and framework the policy ranks
// first among those allowed to take them; the receiver is re-ranked at once,
// so the next agent may go to someone else.
func (a *Allocator) Allocate(now time.Time) []mezzo.Offer {
	return a.allocate(now, a.agentSlots)
}

// AllocateAgents runs a cycle over the given agents only: the incremental
// form used when resources are freed on a few agents. Unknown agents are
// skipped.
func (a *Allocator) AllocateAgents(now time.Time, ids []mezzo.AgentID) []mezzo.Offer {
	ags := make([]*agent, 0, len(ids))
	for _, id := range ids {
		if ag, ok := a.agents[id]; ok {
			ags = append(ags, ag)
		}
	}
	sort.Slice(ags, func(i, j int) bool { return ags[i].slot < ags[j].slot })
	uniq := ags[:0]
	for i, ag := range ags {
		if i == 0 || ag != ags[i-1] {
			uniq = append(uniq, ag)
		}
	}
	return a.allocate(now, uniq)
}

func (a *Allocator) allocate(now time.Time, agents []*agent) []mezzo.Offer {
	a.expireFilters(now)
	if a.offerable == 0 {
		return nil
	}
	a.refreshRanks()
	unmet := a.unmetGuarantees()
	// Asked once per cycle, so rank-only policies keep their path as is.
	fit, _ := a.policy.(AgentAwarePolicy)
	var out []mezzo.Offer
	for _, ag := range agents {
		if ag == nil || !ag.active || !ag.allocatable || ag.blocked >= a.offerable {
			continue
		}
		if !unmet.IsEmpty() {
			out = a.allocateGuarantees(now, ag, &unmet, out)
		}
		if fit != nil {
			out = a.allocateByFit(now, ag, unmet, fit, out)
			continue
		}
		out = a.allocateFair(now, ag, unmet, out)
	}
	return out
}

// allocateGuarantees offers ag to roles below their quota guarantee, most
// deserving first, as long as the agent has something they still need.
func (a *Allocator) allocateGuarantees(now time.Time, ag *agent, unmet *mezzo.Resources, out []mezzo.Offer) []mezzo.Offer {
	for i := 0; i < a.roleOrder.len() && ag.allocatable; i++ {
		r := a.roleOrder.at(i)
		if r.cfg.Quota.Guarantee.IsEmpty() {
			continue
		}
		need := r.cfg.Quota.Guarantee.ScalarPart().Sub(r.allocated)
		if need.Min(ag.available).IsEmpty() {
			continue
		}
		for j := 0; j < r.frameworks.len(); j++ {
			fw := r.frameworks.at(j)
			if !a.eligible(fw, ag) {
				continue
			}
			res := capToLimit(ag.available, r)
			if res.IsEmpty() {
				break
			}
			before := need
			out = append(out, a.makeOffer(now, fw, ag, res))
			after := r.cfg.Quota.Guarantee.ScalarPart().Sub(r.allocated)
			*unmet = unmet.Sub(before.Sub(after))
			break
		}
	}
	return out
}

// allocateFair offers what is left of ag by the policy's order, keeping
// back what other roles still need to reach their guarantees.
func (a *Allocator) allocateFair(now time.Time, ag *agent, unmet mezzo.Resources, out []mezzo.Offer) []mezzo.Offer {
	for i := 0; i < a.roleOrder.len() && ag.allocatable; i++ {
		r := a.roleOrder.at(i)
		if r.members == 0 {
			continue
		}
		for j := 0; j < r.frameworks.len() && ag.allocatable; j++ {
			fw := r.frameworks.at(j)
			if !a.eligible(fw, ag) {
				continue
			}
			res := capToLimit(ag.available, r)
			if !unmet.IsEmpty() {
				res = a.keepHeadroom(res, r, unmet)
			}
			if res.IsEmpty() || (len(a.minAllocatable) > 0 && !res.ContainsAny(a.minAllocatable)) {
				break
			}
			out = append(out, a.makeOffer(now, fw, ag, res))
			// The receiver moved; restart from the front of the new order
			// for whatever is left on this agent.
			i, j = -1, r.frameworks.len()
		}
	}
	return out
}

// eligible reports whether fw may be offered ag's free resources now.
func (a *Allocator) eligible(fw *framework, ag *agent) bool {
	if !fw.isOfferable() || fw.filtered(ag) {
		return false
	}
	if fw.allowed != nil {
		if _, ok := fw.allowed[ag.id]; !ok {
			return false
		}
	}
	if m := fw.info.Constraints.MinResources; !m.IsEmpty() && !ag.available.Contains(m) {
		return false
	}
	return a.policy.Allows(
		FrameworkRef{ID: fw.id, Role: fw.role.name, Ordinal: fw.ordinal, Count: a.registered},
		AgentRef{ID: ag.id, Attributes: ag.info.Attributes, Ordinal: ag.ordinal, Count: a.liveAgents},
	)
}

// unmetGuarantees sums, over roles with a guarantee, what they still lack.
func (a *Allocator) unmetGuarantees() mezzo.Resources {
	var u mezzo.Resources
	for _, r := range a.quotaRoles {
		u = u.Add(r.cfg.Quota.Guarantee.ScalarPart().Sub(r.allocated))
	}
	return u
}

// capToLimit trims res so role r stays within its quota limit. Resources
// the limit does not name are not limited.
func capToLimit(res mezzo.Resources, r *role) mezzo.Resources {
	limit := r.cfg.Quota.Limit
	if limit.IsEmpty() {
		return res
	}
	headroom := limit.Sub(r.allocated)
	return capNamed(res, headroom, limit.Names())
}

// capNamed trims the named scalars of res to at most cap's quantities.
func capNamed(res, cap mezzo.Resources, names []string) mezzo.Resources {
	over := map[string]float64{}
	for _, n := range names {
		if v, c := res.Get(n), cap.Get(n); v > c {
			over[n] = v - c
		}
	}
	if len(over) == 0 {
		return res
	}
	return res.Sub(mezzo.MustResources(over))
}

// keepHeadroom trims res so that, after offering it, the cluster keeps
// enough unallocated resources for other roles' unmet guarantees.
func (a *Allocator) keepHeadroom(res mezzo.Resources, r *role, unmet mezzo.Resources) mezzo.Resources {
	reserve := unmet
	if !r.cfg.Quota.Guarantee.IsEmpty() {
		reserve = reserve.Sub(r.cfg.Quota.Guarantee.ScalarPart().Sub(r.allocated))
	}
	if reserve.IsEmpty() {
		return res
	}
	spare := a.freeTotal().Sub(reserve)
	return capNamed(res, spare, reserve.Names())
}

func (a *Allocator) makeOffer(now time.Time, fw *framework, ag *agent, res mezzo.Resources) mezzo.Offer {
	o := &offer{id: a.newOfferID(), fw: fw, agent: ag, resources: res, created: now}
	a.offers[o.id] = o
	ag.addOffer(o)
	fw.offers[o.id] = struct{}{}
	fw.nOffers++
	fw.role.nOffers++
	a.setAvailable(ag, ag.available.Sub(res))
	a.charge(fw, ag, res)
	return o.public()
}

func (o *offer) public() mezzo.Offer {
	return mezzo.Offer{
		ID:          o.id,
		FrameworkID: o.fw.id,
		AgentID:     o.agent.id,
		Hostname:    o.agent.info.Hostname,
		Attributes:  o.agent.info.Attributes,
		Resources:   o.resources,
	}
}

// lookupOffers finds the offers fw names, all on one agent, each once.
func (a *Allocator) lookupOffers(fwID mezzo.FrameworkID, ids []mezzo.OfferID) (*framework, []*offer, error) {
	fw, ok := a.frameworks[fwID]
	if !ok {
		return nil, nil, fmt.Errorf("alloc: framework %s: %w", fwID, ErrUnknownFramework)
	}
	if len(ids) == 0 {
		return nil, nil, fmt.Errorf("alloc: framework %s named no offers", fwID)
	}
	seen := map[mezzo.OfferID]bool{}
	out := make([]*offer, 0, len(ids))
	for _, id := range ids {
		o, ok := a.offers[id]
		if !ok {
			return nil, nil, fmt.Errorf("alloc: offer %s: %w", id, ErrUnknownOffer)
		}
		if o.fw != fw {
			return nil, nil, fmt.Errorf("alloc: offer %s belongs to another framework, not %s: %w", id, fwID, ErrUnknownOffer)
		}
		if seen[id] {
			return nil, nil, fmt.Errorf("alloc: offer %s named twice", id)
		}
		if len(out) > 0 && o.agent != out[0].agent {
			return nil, nil, fmt.Errorf("alloc: offers %s and %s are on different agents", out[0].id, id)
		}
		seen[id] = true
		out = append(out, o)
	}
	return fw, out, nil
}

// Accept takes offers (all on one agent) and puts use of their resources to
// work. What use leaves over returns to the agent, filtered from this
// framework for f. If use is more than the offers hold, or an offer is
// unknown or not the framework's, nothing changes and the error says why.
func (a *Allocator) Accept(now time.Time, fwID mezzo.FrameworkID, ids []mezzo.OfferID, use mezzo.Resources, f mezzo.Filters) error {
	fw, offers, err := a.lookupOffers(fwID, ids)
	if err != nil {
		return err
	}
	var sum mezzo.Resources
	for _, o := range offers {
		sum = sum.Add(o.resources)
	}
	if !sum.Contains(use) {
		return fmt.Errorf("alloc: framework %s asks for %s but its offers hold %s: %w", fwID, use, sum, ErrInsufficient)
	}
	ag := offers[0].agent
	for _, o := range offers {
		a.dropOffer(o)
	}
	unused := sum.Sub(use)
	if !use.IsEmpty() {
		a.addUse(fw, ag, use)
	}
	if !unused.IsEmpty() {
		a.release(fw, ag, unused)
		if d := f.RefuseDuration(); d > 0 {
			a.addFilter(fw, ag, unused, now.Add(d))
		}
	}
	return nil
}

// Decline gives offers back, filtering their agents from the framework for
// f. An unknown or foreign offer is an error and nothing changes.
func (a *Allocator) Decline(now time.Time, fwID mezzo.FrameworkID, ids []mezzo.OfferID, f mezzo.Filters) error {
	fw, ok := a.frameworks[fwID]
	if !ok {
		return fmt.Errorf("alloc: framework %s: %w", fwID, ErrUnknownFramework)
	}
	// Most declines name one offer: keep that case off the heap.
	var one [1]*offer
	offers := one[:0]
	if len(ids) > 1 {
		offers = make([]*offer, 0, len(ids))
	}
	for _, id := range ids {
		o, ok := a.offers[id]
		if !ok || o.fw != fw {
			return fmt.Errorf("alloc: framework %s declines offer %s, which it does not hold: %w", fwID, id, ErrUnknownOffer)
		}
		offers = append(offers, o)
	}
	for _, o := range offers {
		if _, still := a.offers[o.id]; !still {
			continue // named twice
		}
		a.dropOffer(o)
		a.release(fw, o.agent, o.resources)
		if d := f.RefuseDuration(); d > 0 {
			a.addFilter(fw, o.agent, o.resources, now.Add(d))
		}
	}
	return nil
}

// Rescind withdraws offers without filtering (the master takes them back)
// and returns them; unknown IDs are ignored.
func (a *Allocator) Rescind(ids ...mezzo.OfferID) []mezzo.Offer {
	m := map[mezzo.OfferID]*offer{}
	for _, id := range ids {
		if o, ok := a.offers[id]; ok {
			m[id] = o
		}
	}
	return a.withdrawOffers(m)
}

// ExpireOffers rescinds offers outstanding for longer than the offer
// timeout and returns them.
func (a *Allocator) ExpireOffers(now time.Time) []mezzo.Offer {
	if a.offerTimeout <= 0 {
		return nil
	}
	m := map[mezzo.OfferID]*offer{}
	for id, o := range a.offers {
		if !o.created.Add(a.offerTimeout).After(now) {
			m[id] = o
		}
	}
	return a.withdrawOffers(m)
}

// Recover returns resources a task of fw held on an agent (the task ended).
// Asking to recover more than fw holds there is an error and changes
// nothing.
func (a *Allocator) Recover(fwID mezzo.FrameworkID, agentID mezzo.AgentID, res mezzo.Resources) error {
	fw, ok := a.frameworks[fwID]
	if !ok {
		return fmt.Errorf("alloc: recover for framework %s: %w", fwID, ErrUnknownFramework)
	}
	ag, ok := a.agents[agentID]
	if !ok {
		return fmt.Errorf("alloc: recover on agent %s: %w", agentID, ErrUnknownAgent)
	}
	held := fw.used[ag.slot]
	if !held.Contains(res) {
		return fmt.Errorf("alloc: framework %s holds %s on agent %s, cannot recover %s: %w", fwID, held, agentID, res, ErrInsufficient)
	}
	a.dropUse(fw, ag, res)
	a.release(fw, ag, res)
	return nil
}

// AddUsed charges resources that tasks of fw already hold on an agent (a
// framework re-registering after a master failover, after its agent). The
// agent must have them free.
func (a *Allocator) AddUsed(fwID mezzo.FrameworkID, agentID mezzo.AgentID, res mezzo.Resources) error {
	fw, ok := a.frameworks[fwID]
	if !ok {
		return fmt.Errorf("alloc: add used for framework %s: %w", fwID, ErrUnknownFramework)
	}
	ag, ok := a.agents[agentID]
	if !ok {
		return fmt.Errorf("alloc: add used on agent %s: %w", agentID, ErrUnknownAgent)
	}
	if !ag.available.Contains(res) {
		return fmt.Errorf("alloc: agent %s has %s free, cannot charge %s to framework %s: %w", agentID, ag.available, res, fwID, ErrInsufficient)
	}
	a.setAvailable(ag, ag.available.Sub(res))
	a.charge(fw, ag, res)
	a.addUse(fw, ag, res)
	return nil
}

// dropOffer forgets an offer; its resources stay charged to the framework
// until the caller releases or uses them.
func (a *Allocator) dropOffer(o *offer) {
	delete(a.offers, o.id)
	delete(o.agent.offers, o.id)
	delete(o.fw.offers, o.id)
}

// withdrawOffers removes offers and returns their resources to their
// agents, reporting them sorted by ID.
func (a *Allocator) withdrawOffers(m map[mezzo.OfferID]*offer) []mezzo.Offer {
	if len(m) == 0 {
		return nil
	}
	ids := sortedKeys(m)
	out := make([]mezzo.Offer, 0, len(ids))
	for _, id := range ids {
		o := m[id]
		out = append(out, o.public())
		a.dropOffer(o)
		a.release(o.fw, o.agent, o.resources)
	}
	return out
}

func (a *Allocator) withdrawFrameworkOffers(fw *framework) []mezzo.Offer {
	m := make(map[mezzo.OfferID]*offer, len(fw.offers))
	for id := range fw.offers {
		m[id] = a.offers[id]
	}
	return a.withdrawOffers(m)
}
