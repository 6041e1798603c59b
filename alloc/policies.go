package alloc

import (
	"hash/fnv"
	"math"

	"github.com/mezzo-cluster/mezzo"
)

// weighted divides a share by a weight, treating non-positive weights as 1
// so a misconfigured role cannot divide by zero.
func weighted(share, weight float64) float64 {
	if weight <= 0 {
		return share
	}
	return share / weight
}

// DRF is Dominant Resource Fairness (Ghodsi et al., NSDI 2011): the client
// with the smallest dominant share, divided by its weight, goes first.
type DRF struct{ anyAgent }

// Name implements Policy.
func (DRF) Name() string { return "drf" }

// Rank implements Policy.
func (DRF) Rank(c Client) Rank {
	return Rank{Major: weighted(c.DominantShare(), c.Weight)}
}

// FairCPU is max-min fairness on a single resource, CPU: the client holding
// the smallest weighted fraction of the cluster's CPUs goes first. It is the
// "slot fairness" of Hadoop's fair scheduler that DRF generalises.
type FairCPU struct{ anyAgent }

// Name implements Policy.
func (FairCPU) Name() string { return "fair-cpu" }

// Rank implements Policy.
func (FairCPU) Rank(c Client) Rank {
	return Rank{Major: weighted(c.Allocated.Share(mezzo.CPUs, c.Total), c.Weight)}
}

// Priority serves roles in strict order of weight, read as a priority: a
// role is offered resources only when every role of higher weight has
// declined them or is filtered. Within a role, and between roles of equal
// weight, DRF decides.
type Priority struct{ anyAgent }

// Name implements Policy.
func (Priority) Name() string { return "priority" }

// Rank implements Policy.
func (Priority) Rank(c Client) Rank {
	major := 0.0
	if c.Level == RoleLevel {
		major = -c.Weight
	}
	return Rank{Major: major, Minor: c.DominantShare()}
}

// Random offers in a weighted random order: each client draws an
// exponential variate with rate equal to its weight, smallest first, which
// picks client i first with probability w_i/Σw. The draw is a hash of the
// seed, the client and how many offers it has had, so it is reproducible
// without any mutable random state, and a client draws anew after each offer.
type Random struct {
	anyAgent
	Seed uint64
}

// Name implements Policy.
func (Random) Name() string { return "random" }

// Rank implements Policy.
func (p Random) Rank(c Client) Rank {
	h := fnv.New64a()
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(p.Seed >> (8 * i))
		b[8+i] = byte(c.Offers >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(c.Name))
	// 53 bits of the hash make a uniform in (0,1).
	u := (float64(h.Sum64()>>11) + 0.5) / (1 << 53)
	w := c.Weight
	if w <= 0 {
		w = 1
	}
	return Rank{Major: -math.Log(u) / w}
}

// Static is the static partitioning baseline the Mesos paper compares
// against: each framework is confined to its own set of agents and never
// gets another's idle resources. An agent with the attribute
// "partition:ROLE" belongs to the frameworks of that role; other agents are
// split into equal contiguous slices, one per framework in registration
// order. A slice stays its framework's when others leave, idle or not, as
// a statically partitioned cluster would; frameworks that register later
// re-slice. Within what a framework may use, DRF decides.
type Static struct{}

// PartitionAttribute is the agent attribute that pins an agent to a role
// under the static policy.
const PartitionAttribute = "partition"

// Name implements Policy.
func (Static) Name() string { return "static" }

// Rank implements Policy.
func (Static) Rank(c Client) Rank { return DRF{}.Rank(c) }

// Allows implements Policy.
func (Static) Allows(fw FrameworkRef, agent AgentRef) bool {
	for _, a := range agent.Attributes {
		if a.Name == PartitionAttribute {
			return a.Value == fw.Role
		}
	}
	if fw.Count == 0 || agent.Count == 0 {
		return false
	}
	return agent.Ordinal*fw.Count/agent.Count == fw.Ordinal
}
