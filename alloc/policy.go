package alloc

import (
	"github.com/mezzo-cluster/mezzo"
)

// Policy decides who is offered what. The allocator owns the state (agents,
// frameworks, offers, filters, quota) and runs the cycle; a policy only
// ranks the clients that compete for an agent and may forbid pairings.
//
// Ranking is hierarchical, as in Mesos: roles compete first, then the
// frameworks within the chosen role. Rank is asked again whenever a client's
// allocation or the cluster total changes, so it must be a pure function of
// its argument (plus the policy's own fixed configuration).
type Policy interface {
	// Name is the policy's registry name.
	Name() string
	// Rank places a client in the offer order: lower ranks are offered
	// first; ties go to the lexically smaller name.
	Rank(c Client) Rank
	// Allows reports whether fw may be offered resources on agent at all.
	Allows(fw FrameworkRef, agent AgentRef) bool
}

// Rank orders clients: Major first, then Minor, both ascending.
type Rank struct {
	Major, Minor float64
}

// Less compares two ranks.
func (r Rank) Less(o Rank) bool {
	if r.Major != o.Major {
		return r.Major < o.Major
	}
	return r.Minor < o.Minor
}

// Level says whether a client is a role or a framework.
type Level int

// Client levels.
const (
	RoleLevel Level = iota
	FrameworkLevel
)

// Client is what a policy sees of a role or framework when ranking it.
type Client struct {
	Level Level
	Name  string
	// Weight is the role's weight (1 for frameworks, which share their
	// role's weight).
	Weight float64
	// Allocated is what the client holds: offered plus in use.
	Allocated mezzo.Resources
	// Total is the cluster's total resources.
	Total mezzo.Resources
	// Offers counts the offers the client has received, so that a policy
	// that draws at random can draw anew after each one.
	Offers uint64
}

// DominantShare is the client's DRF share, before weighting.
func (c Client) DominantShare() float64 { return c.Allocated.DominantShare(c.Total) }

// FrameworkRef is what a policy sees of a framework when deciding whether it
// may use an agent.
type FrameworkRef struct {
	ID   mezzo.FrameworkID
	Role string
	// Ordinal is the framework's place in registration order (0-based,
	// counting every framework ever added, so it never changes); Count is
	// how many frameworks have been added.
	Ordinal, Count int
}

// AgentRef is what a policy sees of an agent.
type AgentRef struct {
	ID         mezzo.AgentID
	Attributes []mezzo.Attribute
	// Ordinal is the agent's position in the order agents were added
	// (0-based, among current agents); Count is how many there are.
	Ordinal, Count int
}

// anyAgent is embedded by policies that do not restrict placement.
type anyAgent struct{}

func (anyAgent) Allows(FrameworkRef, AgentRef) bool { return true }
