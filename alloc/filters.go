package alloc

import (
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// A decline filter keeps one agent from one framework until it expires, as
// long as what the agent has free is no more than what was refused (Mesos
// semantics: if more becomes free, the framework sees the agent again).
//
// The cost that matters is a cycle in which every framework has declined
// every agent (Mesos's DeclineOffers benchmark). Checking every pair would be
// agents × frameworks map lookups; instead each agent groups its filters by
// the refused bundle (declines of a whole agent all refuse the same bundle),
// knows whether each group applies to its current free resources, and keeps
// a count of offerable frameworks blocked. When that count equals the number
// of offerable frameworks the cycle skips the agent in O(1).
type filter struct {
	fw      *framework
	agent   *agent
	expires time.Time
	group   *filterGroup
	heapIdx int
}

type filterGroup struct {
	agent   *agent
	refused mezzo.Resources
	members int
	// offerable counts members whose framework is offerable.
	offerable int
	// applies caches agent.available ⊆ refused.
	applies bool
}

// filterIndex is embedded in agent.
type filterIndex struct {
	groups []*filterGroup
	// blocked is the number of offerable frameworks filtered here now.
	blocked int
}

// filtered reports whether fw may not be offered ag's free resources now.
func (fw *framework) filtered(ag *agent) bool {
	f, ok := fw.filters[ag.slot]
	return ok && f.group.applies
}

// addFilter records a decline of refused on ag by fw until expires,
// replacing any older filter of that pair.
func (a *Allocator) addFilter(fw *framework, ag *agent, refused mezzo.Resources, expires time.Time) {
	if old, ok := fw.filters[ag.slot]; ok {
		a.removeFilter(old)
	}
	var g *filterGroup
	for _, cand := range ag.groups {
		if cand.refused.Equal(refused) {
			g = cand
			break
		}
	}
	if g == nil {
		g = &filterGroup{agent: ag, refused: refused, applies: refused.Contains(ag.available)}
		ag.groups = append(ag.groups, g)
	}
	f := &filter{fw: fw, agent: ag, expires: expires, group: g}
	g.members++
	if fw.isOfferable() {
		g.offerable++
		if g.applies {
			ag.blocked++
		}
	}
	fw.filters[ag.slot] = f
	a.filters.push(f)
}

func (a *Allocator) removeFilter(f *filter) {
	g, ag := f.group, f.agent
	g.members--
	if f.fw.isOfferable() {
		g.offerable--
		if g.applies {
			ag.blocked--
		}
	}
	if g.members == 0 {
		for i, cand := range ag.groups {
			if cand == g {
				ag.groups = append(ag.groups[:i], ag.groups[i+1:]...)
				break
			}
		}
	}
	delete(f.fw.filters, ag.slot)
	if f.heapIdx >= 0 {
		a.filters.remove(f.heapIdx)
	}
}

// refreshFilterGroups re-evaluates which groups apply after ag's free
// resources changed.
func (a *Allocator) refreshFilterGroups(ag *agent) {
	for _, g := range ag.groups {
		now := g.refused.Contains(ag.available)
		if now == g.applies {
			continue
		}
		g.applies = now
		if now {
			ag.blocked += g.offerable
		} else {
			ag.blocked -= g.offerable
		}
	}
}

// expireFilters drops filters whose time has come.
func (a *Allocator) expireFilters(now time.Time) {
	for len(a.filters) > 0 && !a.filters[0].expires.After(now) {
		a.removeFilter(a.filters[0])
	}
}

func (a *Allocator) dropAgentFilters(ag *agent) {
	for _, fw := range a.fwOrder {
		if f, ok := fw.filters[ag.slot]; ok {
			a.removeFilter(f)
		}
	}
}

// filterHeap orders filters by expiry, then by framework and agent so that
// expiry order never depends on insertion accidents. It is a binary heap
// written out for *filter: every decline pushes one and every expiry or
// revive removes one, and container/heap's interface calls cost more than
// the comparisons.
type filterHeap []*filter

func (h filterHeap) less(i, j int) bool {
	a, b := h[i], h[j]
	if !a.expires.Equal(b.expires) {
		return a.expires.Before(b.expires)
	}
	if a.fw.id != b.fw.id {
		return a.fw.id < b.fw.id
	}
	return a.agent.slot < b.agent.slot
}

func (h filterHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h *filterHeap) push(f *filter) {
	f.heapIdx = len(*h)
	*h = append(*h, f)
	h.up(f.heapIdx)
}

// remove takes out the element at i.
func (h *filterHeap) remove(i int) {
	old := *h
	n := len(old) - 1
	if i != n {
		old.swap(i, n)
	}
	f := old[n]
	old[n] = nil
	f.heapIdx = -1
	*h = old[:n]
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h filterHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if i == j || !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

// down sifts i down and reports whether it moved.
func (h filterHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if r := j + 1; r < n && h.less(r, j) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
