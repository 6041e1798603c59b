package alloc

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Config sets up an Allocator.
type Config struct {
	// Policy ranks clients; required.
	Policy Policy
	// MinAllocatable lists alternatives: an agent's free resources are
	// offered only when they hold at least one of them. Nil means
	// [DefaultMinAllocatable]; an empty non-nil slice disables the check.
	MinAllocatable []mezzo.Resources
	// OfferTimeout rescinds offers outstanding longer than this (see
	// ExpireOffers); 0 keeps offers until answered.
	OfferTimeout time.Duration
	// OfferIDPrefix makes offer IDs unique across allocators (a master
	// puts its epoch here so IDs never repeat after a failover).
	OfferIDPrefix string
}

// DefaultMinAllocatable is Mesos's default: 0.01 cpus or 32 MB of memory.
func DefaultMinAllocatable() []mezzo.Resources {
	return []mezzo.Resources{mezzo.Cpus(0.01), mezzo.MemMB(32)}
}

// AgentInfo describes an agent to the allocator.
type AgentInfo struct {
	Hostname   string
	Attributes []mezzo.Attribute
	Resources  mezzo.Resources
}

// Quota is a role's guarantee (met before any role gets more than its fair
// share) and limit (never exceeded). Either may be empty.
type Quota struct {
	Guarantee mezzo.Resources
	Limit     mezzo.Resources
}

// RoleConfig is a role's weight and quota.
type RoleConfig struct {
	Weight float64
	Quota  Quota
}

// Errors the allocator returns, wrapped with details; test with errors.Is.
var (
	ErrUnknownAgent     = errors.New("unknown agent")
	ErrUnknownFramework = errors.New("unknown framework")
	ErrUnknownOffer     = errors.New("unknown offer")
	ErrExists           = errors.New("already exists")
	ErrInsufficient     = errors.New("resources not held")
)

// Allocator is the allocation state machine shared by the simulator and the
// real master. It has no goroutines, reads no clock and does no I/O: time
// comes in as an argument and every decision follows from the calls made,
// in order, so the same calls give the same offers byte for byte. It is not
// safe for concurrent use; its owner serialises calls.
type Allocator struct {
	policy         Policy
	minAllocatable []mezzo.Resources
	offerTimeout   time.Duration
	offerPrefix    string

	total mezzo.Resources
	// free is the scalar resources active agents have free, kept in step
	// by setAvailable so quota headroom is O(1) to read. Without quota
	// guarantees nothing reads it in a cycle: it then goes stale and is
	// recounted on demand (freeTotal), which saves two bundle operations
	// per offer, decline and recovery.
	free      mezzo.Resources
	freeStale bool

	agents     map[mezzo.AgentID]*agent
	agentSlots []*agent // in order of addition; nil where removed
	liveAgents int

	frameworks map[mezzo.FrameworkID]*framework
	fwOrder    []*framework // registration order
	// registered counts frameworks ever added; a framework's ordinal is
	// its place in that count and never changes, so a static partition
	// stays fixed when others leave.
	registered int
	offerable  int // frameworks active and not suppressed

	roles     map[string]*role
	roleOrder sorter[*role]

	offers    map[mezzo.OfferID]*offer
	nextOffer uint64

	filters filterHeap

	quotaRoles []*role // roles with a guarantee, kept sorted by name

	// ranksStale says the total changed since ranks were computed; the
	// sorters are then out of order until refreshRanks.
	ranksStale bool
}

// New builds an allocator.
func New(cfg Config) (*Allocator, error) {
	if cfg.Policy == nil {
		return nil, errors.New("alloc: Config.Policy is required")
	}
	minAlloc := cfg.MinAllocatable
	if minAlloc == nil {
		minAlloc = DefaultMinAllocatable()
	}
	return &Allocator{
		policy:         cfg.Policy,
		minAllocatable: minAlloc,
		offerTimeout:   cfg.OfferTimeout,
		offerPrefix:    cfg.OfferIDPrefix,
		agents:         map[mezzo.AgentID]*agent{},
		frameworks:     map[mezzo.FrameworkID]*framework{},
		roles:          map[string]*role{},
		offers:         map[mezzo.OfferID]*offer{},
	}, nil
}

// Policy returns the policy in force.
func (a *Allocator) Policy() Policy { return a.policy }

type agent struct {
	id        mezzo.AgentID
	slot      int
	ordinal   int
	info      AgentInfo
	total     mezzo.Resources
	available mezzo.Resources
	active    bool
	// allocatable caches available.ContainsAny(minAllocatable).
	allocatable bool
	offers      map[mezzo.OfferID]*offer
	// users are the frameworks with resources in use here; usedSum is
	// what they use, so snapshots need not add it up.
	users   map[mezzo.FrameworkID]struct{}
	usedSum mezzo.Resources
	filterIndex
}

// addUse records r as in use by fw's tasks on ag.
func (a *Allocator) addUse(fw *framework, ag *agent, r mezzo.Resources) {
	fw.used[ag.slot] = fw.used[ag.slot].Add(r)
	fw.usedSum = fw.usedSum.Add(r.ScalarPart())
	ag.usedSum = ag.usedSum.Add(r)
	ag.addUser(fw.id)
}

// dropUse forgets r in use by fw's tasks on ag; the caller has checked
// that fw holds it there.
func (a *Allocator) dropUse(fw *framework, ag *agent, r mezzo.Resources) {
	if left := fw.used[ag.slot].Sub(r); left.IsEmpty() {
		delete(fw.used, ag.slot)
		delete(ag.users, fw.id)
	} else {
		fw.used[ag.slot] = left
	}
	fw.usedSum = fw.usedSum.Sub(r.ScalarPart())
	ag.usedSum = ag.usedSum.Sub(r)
}

// Maps on agents are made on first use: a large cluster adds thousands of
// agents that may never hold an offer.
func (ag *agent) addUser(id mezzo.FrameworkID) {
	if ag.users == nil {
		ag.users = map[mezzo.FrameworkID]struct{}{}
	}
	ag.users[id] = struct{}{}
}

func (ag *agent) addOffer(o *offer) {
	if ag.offers == nil {
		ag.offers = map[mezzo.OfferID]*offer{}
	}
	ag.offers[o.id] = o
}

type framework struct {
	id         mezzo.FrameworkID
	info       mezzo.FrameworkInfo
	role       *role
	ordinal    int
	active     bool
	suppressed bool
	allocated  mezzo.Resources            // offered + used, scalars only
	used       map[int]mezzo.Resources    // by agent slot
	usedSum    mezzo.Resources            // scalars of used, summed
	offers     map[mezzo.OfferID]struct{} // outstanding
	filters    map[int]*filter            // by agent slot
	allowed    map[mezzo.AgentID]struct{} // nil: any agent
	nOffers    uint64
	rank       Rank
	sortHandle int32
}

func (f *framework) key() (Rank, string) { return f.rank, string(f.id) }
func (f *framework) handle() *int32      { return &f.sortHandle }

func (f *framework) isOfferable() bool { return f.active && !f.suppressed }

type role struct {
	name       string
	cfg        RoleConfig
	allocated  mezzo.Resources
	frameworks sorter[*framework] // offerable members only
	members    int                // offerable members
	nOffers    uint64
	rank       Rank
	sortHandle int32
}

func (r *role) key() (Rank, string) { return r.rank, r.name }
func (r *role) handle() *int32      { return &r.sortHandle }

type offer struct {
	id        mezzo.OfferID
	fw        *framework
	agent     *agent
	resources mezzo.Resources
	created   time.Time
}

// --- agents ---------------------------------------------------------------

// AddAgent adds an agent. used lists resources already in use by tasks of
// known frameworks (an agent re-registering after a master failover); they
// are charged to those frameworks and not offered.
func (a *Allocator) AddAgent(id mezzo.AgentID, info AgentInfo, used map[mezzo.FrameworkID]mezzo.Resources) error {
	if id == "" {
		return errors.New("alloc: agent with an empty ID")
	}
	if _, ok := a.agents[id]; ok {
		return fmt.Errorf("alloc: agent %s: %w", id, ErrExists)
	}
	var inUse mezzo.Resources
	for _, fid := range sortedFrameworkIDs(used) {
		if _, ok := a.frameworks[fid]; !ok {
			return fmt.Errorf("alloc: agent %s reports resources used by framework %s: %w", id, fid, ErrUnknownFramework)
		}
		inUse = inUse.Add(used[fid])
	}
	if !info.Resources.Contains(inUse) {
		return fmt.Errorf("alloc: agent %s reports %s in use but has only %s: %w", id, inUse, info.Resources, ErrInsufficient)
	}
	ag := &agent{
		id:      id,
		slot:    len(a.agentSlots),
		ordinal: a.liveAgents,
		info:    info,
		total:   info.Resources,
		active:  true,
		offers:  map[mezzo.OfferID]*offer{},
		users:   map[mezzo.FrameworkID]struct{}{},
	}
	a.setAvailable(ag, info.Resources.Sub(inUse))
	a.agents[id] = ag
	a.agentSlots = append(a.agentSlots, ag)
	a.liveAgents++
	a.total = a.total.Add(info.Resources.ScalarPart())
	for _, fid := range sortedFrameworkIDs(used) {
		if !used[fid].IsEmpty() {
			a.charge(a.frameworks[fid], ag, used[fid])
			a.addUse(a.frameworks[fid], ag, used[fid])
		}
	}
	a.totalChanged()
	return nil
}

// RemoveAgent removes an agent (lost or shut down). Its outstanding offers
// are withdrawn and returned, so the caller can tell their frameworks; the
// resources its tasks used are released from their frameworks.
func (a *Allocator) RemoveAgent(id mezzo.AgentID) ([]mezzo.Offer, error) {
	ag, ok := a.agents[id]
	if !ok {
		return nil, fmt.Errorf("alloc: remove agent %s: %w", id, ErrUnknownAgent)
	}
	withdrawn := a.withdrawOffers(ag.offers)
	for _, fid := range sortedKeys(ag.users) {
		fw := a.frameworks[fid]
		if r, ok := fw.used[ag.slot]; ok {
			a.uncharge(fw, r)
			a.dropUse(fw, ag, r)
		}
	}
	a.dropAgentFilters(ag)
	a.setActive(ag, false)
	delete(a.agents, id)
	a.agentSlots[ag.slot] = nil
	a.liveAgents--
	a.total = a.total.Sub(ag.total.ScalarPart())
	a.renumberAgents()
	a.compactAgentSlots()
	a.totalChanged()
	return withdrawn, nil
}

// DeactivateAgent stops offers of the agent (it is unreachable or
// draining) and withdraws its outstanding offers, returning them.
func (a *Allocator) DeactivateAgent(id mezzo.AgentID) ([]mezzo.Offer, error) {
	ag, ok := a.agents[id]
	if !ok {
		return nil, fmt.Errorf("alloc: deactivate agent %s: %w", id, ErrUnknownAgent)
	}
	withdrawn := a.withdrawOffers(ag.offers)
	a.setActive(ag, false)
	return withdrawn, nil
}

// ActivateAgent resumes offers of a deactivated agent.
func (a *Allocator) ActivateAgent(id mezzo.AgentID) error {
	ag, ok := a.agents[id]
	if !ok {
		return fmt.Errorf("alloc: activate agent %s: %w", id, ErrUnknownAgent)
	}
	a.setActive(ag, true)
	return nil
}

func (a *Allocator) setActive(ag *agent, active bool) {
	if ag.active == active {
		return
	}
	if active {
		a.adjustFree(mezzo.Resources{}, ag.available)
	} else {
		a.adjustFree(ag.available, mezzo.Resources{})
	}
	ag.active = active
}

// HasAgent reports whether the agent is known.
func (a *Allocator) HasAgent(id mezzo.AgentID) bool { _, ok := a.agents[id]; return ok }

func (a *Allocator) renumberAgents() {
	n := 0
	for _, ag := range a.agentSlots {
		if ag != nil {
			ag.ordinal = n
			n++
		}
	}
}

// compactAgentSlots squeezes out removed agents once they are a quarter of
// the slots, so a long-lived cluster with churn does not scan tombstones.
// Slots are re-keyed in framework state, which is keyed by slot.
func (a *Allocator) compactAgentSlots() {
	if len(a.agentSlots) < 64 || a.liveAgents*4 > len(a.agentSlots)*3 {
		return
	}
	moved := map[int]int{}
	live := a.agentSlots[:0]
	for _, ag := range a.agentSlots {
		if ag == nil {
			continue
		}
		if ag.slot != len(live) {
			moved[ag.slot] = len(live)
			ag.slot = len(live)
		}
		live = append(live, ag)
	}
	for i := len(live); i < len(a.agentSlots); i++ {
		a.agentSlots[i] = nil
	}
	a.agentSlots = live
	if len(moved) == 0 {
		return
	}
	for _, fw := range a.fwOrder {
		fw.used = rekey(fw.used, moved)
		fw.filters = rekey(fw.filters, moved)
	}
}

func rekey[V any](m map[int]V, moved map[int]int) map[int]V {
	out := make(map[int]V, len(m))
	for k, v := range m {
		if n, ok := moved[k]; ok {
			k = n
		}
		out[k] = v
	}
	return out
}

// --- roles and frameworks ---------------------------------------------------

// SetRole sets a role's weight and quota. Roles that are never set have
// weight 1 and no quota.
func (a *Allocator) SetRole(name string, cfg RoleConfig) error {
	if cfg.Weight < 0 {
		return fmt.Errorf("alloc: role %q: weight %v is negative", name, cfg.Weight)
	}
	if cfg.Weight == 0 {
		cfg.Weight = 1
	}
	if !cfg.Quota.Limit.IsEmpty() && !cfg.Quota.Limit.Contains(cfg.Quota.Guarantee.ScalarPart()) {
		return fmt.Errorf("alloc: role %q: quota guarantee %s exceeds its limit %s", name, cfg.Quota.Guarantee, cfg.Quota.Limit)
	}
	r := a.role(name)
	a.roleOrder.remove(r, r.rank, r.name)
	r.cfg = cfg
	a.rerankRole(r, false)
	a.roleOrder.insert(r)
	a.quotaRoles = a.quotaRoles[:0]
	for _, n := range sortedKeys(a.roles) {
		if !a.roles[n].cfg.Quota.Guarantee.IsEmpty() {
			a.quotaRoles = append(a.quotaRoles, a.roles[n])
		}
	}
	return nil
}

func (a *Allocator) role(name string) *role {
	if r, ok := a.roles[name]; ok {
		return r
	}
	r := &role{name: name, cfg: RoleConfig{Weight: 1}}
	a.roles[name] = r
	a.rerankRole(r, false)
	a.roleOrder.insert(r)
	return r
}

// AddFramework registers a framework, active. Resources its tasks already
// hold (after a master failover) are charged with AddUsed.
func (a *Allocator) AddFramework(id mezzo.FrameworkID, info mezzo.FrameworkInfo) error {
	if id == "" {
		return errors.New("alloc: framework with an empty ID")
	}
	if _, ok := a.frameworks[id]; ok {
		return fmt.Errorf("alloc: framework %s: %w", id, ErrExists)
	}
	r := a.role(info.RoleOrDefault())
	fw := &framework{
		id:      id,
		info:    info,
		role:    r,
		ordinal: a.registered,
		used:    map[int]mezzo.Resources{},
		offers:  map[mezzo.OfferID]struct{}{},
		filters: map[int]*filter{},
	}
	fw.allowed = allowedSet(info.Constraints.Agents)
	a.frameworks[id] = fw
	a.fwOrder = append(a.fwOrder, fw)
	a.registered++
	a.setOfferable(fw, true, false)
	return nil
}

func allowedSet(ids []mezzo.AgentID) map[mezzo.AgentID]struct{} {
	if len(ids) == 0 {
		return nil
	}
	m := make(map[mezzo.AgentID]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}

// UpdateConstraints replaces a framework's offer constraints.
func (a *Allocator) UpdateConstraints(id mezzo.FrameworkID, c mezzo.OfferConstraints) error {
	fw, ok := a.frameworks[id]
	if !ok {
		return fmt.Errorf("alloc: constraints of framework %s: %w", id, ErrUnknownFramework)
	}
	fw.info.Constraints = c
	fw.allowed = allowedSet(c.Agents)
	return nil
}

// RemoveFramework removes a framework: its offers are withdrawn (and
// returned) and the resources its tasks held are released.
func (a *Allocator) RemoveFramework(id mezzo.FrameworkID) ([]mezzo.Offer, error) {
	fw, ok := a.frameworks[id]
	if !ok {
		return nil, fmt.Errorf("alloc: remove framework %s: %w", id, ErrUnknownFramework)
	}
	withdrawn := a.withdrawFrameworkOffers(fw)
	for _, slot := range sortedIntKeys(fw.used) {
		ag, r := a.agentSlots[slot], fw.used[slot]
		a.dropUse(fw, ag, r)
		a.release(fw, ag, r)
	}
	a.setOfferable(fw, false, fw.suppressed)
	for _, slot := range sortedIntKeys(fw.filters) {
		a.removeFilter(fw.filters[slot])
	}
	delete(a.frameworks, id)
	for i, f := range a.fwOrder {
		if f == fw {
			a.fwOrder = append(a.fwOrder[:i], a.fwOrder[i+1:]...)
			break
		}
	}
	return withdrawn, nil
}

// DeactivateFramework stops offers to a framework (disconnected, failing
// over) and withdraws its outstanding offers, returning them. Its tasks keep
// their resources.
func (a *Allocator) DeactivateFramework(id mezzo.FrameworkID) ([]mezzo.Offer, error) {
	fw, ok := a.frameworks[id]
	if !ok {
		return nil, fmt.Errorf("alloc: deactivate framework %s: %w", id, ErrUnknownFramework)
	}
	a.setOfferable(fw, false, fw.suppressed)
	return a.withdrawFrameworkOffers(fw), nil
}

// ActivateFramework resumes offers to a deactivated framework.
func (a *Allocator) ActivateFramework(id mezzo.FrameworkID) error {
	fw, ok := a.frameworks[id]
	if !ok {
		return fmt.Errorf("alloc: activate framework %s: %w", id, ErrUnknownFramework)
	}
	a.setOfferable(fw, true, fw.suppressed)
	return nil
}

// Suppress stops offers to a framework until Revive.
func (a *Allocator) Suppress(id mezzo.FrameworkID) error {
	fw, ok := a.frameworks[id]
	if !ok {
		return fmt.Errorf("alloc: suppress framework %s: %w", id, ErrUnknownFramework)
	}
	a.setOfferable(fw, fw.active, true)
	return nil
}

// Revive ends suppression and clears every decline filter of the framework.
func (a *Allocator) Revive(id mezzo.FrameworkID) error {
	fw, ok := a.frameworks[id]
	if !ok {
		return fmt.Errorf("alloc: revive framework %s: %w", id, ErrUnknownFramework)
	}
	for _, slot := range sortedIntKeys(fw.filters) {
		a.removeFilter(fw.filters[slot])
	}
	a.setOfferable(fw, fw.active, false)
	return nil
}

// setOfferable changes a framework's active and suppressed flags, keeping
// the count of offerable frameworks, and the per-agent filter counts that
// let a cycle skip a fully filtered agent, in step.
func (a *Allocator) setOfferable(fw *framework, active, suppressed bool) {
	before := fw.isOfferable()
	fw.active, fw.suppressed = active, suppressed
	after := fw.isOfferable()
	if before == after {
		return
	}
	delta := 1
	if !after {
		delta = -1
	}
	a.offerable += delta
	// Only offerable frameworks sit in their role's order, so a cycle never
	// walks past the suppressed or disconnected.
	r := fw.role
	if after {
		a.rerankFramework(fw, false)
		r.frameworks.insert(fw)
	} else {
		r.frameworks.remove(fw, fw.rank, string(fw.id))
	}
	r.members += delta
	for _, f := range fw.filters {
		f.group.offerable += delta
		if f.group.applies {
			f.group.agent.blocked += delta
		}
	}
}

// --- bookkeeping --------------------------------------------------------------

// charge adds r to a framework's and its role's allocation. Allocations
// summed across agents keep scalars only: ports are per agent, and their
// union over agents would count the same port numbers once.
func (a *Allocator) charge(fw *framework, ag *agent, r mezzo.Resources) {
	_ = ag
	r = r.ScalarPart()
	fw.allocated = fw.allocated.Add(r)
	fw.role.allocated = fw.role.allocated.Add(r)
	a.rerankFramework(fw, true)
	a.rerankRole(fw.role, true)
}

// uncharge takes r off a framework's and its role's allocation.
func (a *Allocator) uncharge(fw *framework, r mezzo.Resources) {
	r = r.ScalarPart()
	fw.allocated = fw.allocated.Sub(r)
	fw.role.allocated = fw.role.allocated.Sub(r)
	a.rerankFramework(fw, true)
	a.rerankRole(fw.role, true)
}

// release returns resources a framework held on an agent to the agent.
func (a *Allocator) release(fw *framework, ag *agent, r mezzo.Resources) {
	a.uncharge(fw, r)
	a.setAvailable(ag, ag.available.Add(r))
}

func (a *Allocator) setAvailable(ag *agent, r mezzo.Resources) {
	if ag.active {
		a.adjustFree(ag.available, r)
	}
	ag.available = r
	a.refreshAllocatable(ag)
	a.refreshFilterGroups(ag)
}

// adjustFree moves the free total from an active agent's old free bundle
// to its new one, or lets it go stale when no role has a guarantee.
func (a *Allocator) adjustFree(old, now mezzo.Resources) {
	if a.freeStale {
		return
	}
	if len(a.quotaRoles) == 0 {
		a.freeStale = true
		return
	}
	a.free = a.free.Sub(old.ScalarPart()).Add(now.ScalarPart())
}

// freeTotal is the scalar resources active agents have free, recounted
// if stale.
func (a *Allocator) freeTotal() mezzo.Resources {
	if a.freeStale {
		var f mezzo.Resources
		for _, ag := range a.agentSlots {
			if ag != nil && ag.active {
				f = f.Add(ag.available.ScalarPart())
			}
		}
		a.free, a.freeStale = f, false
	}
	return a.free
}

func (a *Allocator) refreshAllocatable(ag *agent) {
	ag.allocatable = !ag.available.IsEmpty() &&
		(len(a.minAllocatable) == 0 || ag.available.ContainsAny(a.minAllocatable))
}

func (a *Allocator) client(level Level, name string, weight float64, allocated mezzo.Resources, n uint64) Client {
	return Client{Level: level, Name: name, Weight: weight, Allocated: allocated, Total: a.total, Offers: n}
}

// rerankFramework recomputes a framework's rank; when moved and the
// framework is in its role's order, it is moved to its new place.
func (a *Allocator) rerankFramework(fw *framework, moved bool) {
	old := fw.rank
	fw.rank = a.policy.Rank(a.client(FrameworkLevel, string(fw.id), 1, fw.allocated, fw.nOffers))
	if moved && old != fw.rank && fw.isOfferable() && !a.ranksStale {
		fw.role.frameworks.move(fw, old, string(fw.id))
	}
}

func (a *Allocator) rerankRole(r *role, moved bool) {
	old := r.rank
	r.rank = a.policy.Rank(a.client(RoleLevel, r.name, r.cfg.Weight, r.allocated, r.nOffers))
	if moved && old != r.rank && !a.ranksStale {
		a.roleOrder.move(r, old, r.name)
	}
}

// totalChanged marks every rank stale: each share is a fraction of the
// total. Re-ranking waits for the next cycle, so adding ten thousand agents
// costs one re-rank, not ten thousand.
func (a *Allocator) totalChanged() { a.ranksStale = true }

// refreshRanks re-ranks everyone after the total changed.
func (a *Allocator) refreshRanks() {
	if !a.ranksStale {
		return
	}
	a.ranksStale = false
	for i := 0; i < a.roleOrder.len(); i++ {
		r := a.roleOrder.at(i)
		a.rerankRole(r, false)
		for j := 0; j < r.frameworks.len(); j++ {
			a.rerankFramework(r.frameworks.at(j), false)
		}
		r.frameworks.sortAll()
	}
	a.roleOrder.sortAll()
}

// --- helpers --------------------------------------------------------------

func (a *Allocator) newOfferID() mezzo.OfferID {
	a.nextOffer++
	b := make([]byte, 0, len(a.offerPrefix)+12)
	b = append(b, a.offerPrefix...)
	b = append(b, 'o')
	b = strconv.AppendUint(b, a.nextOffer, 10)
	return mezzo.OfferID(b)
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sortedFrameworkIDs(m map[mezzo.FrameworkID]mezzo.Resources) []mezzo.FrameworkID {
	return sortedKeys(m)
}

func sortedIntKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
