package alloc

// Asset is asset fairness, the alternative the DRF paper (Ghodsi et al.,
// NSDI 2011, section 5.1) compares DRF against: a client's share is the sum
// of its shares of every resource rather than the largest, so a unit of any
// resource counts by its fraction of the cluster, like money. The client with
// the smallest summed share, divided by its weight, goes first.
//
// It is a policy in a few lines: Rank only, on any agent. The paper shows it
// can violate the sharing incentive, which is why mezzo ships it as a
// research baseline, not a default.
type Asset struct{ anyAgent }

// Name implements Policy.
func (Asset) Name() string { return "asset" }

// Rank implements Policy.
func (Asset) Rank(c Client) Rank {
	sum := 0.0
	for _, s := range c.Allocated.Scalars() {
		sum += c.Allocated.Share(s.Name, c.Total)
	}
	return Rank{Major: weighted(sum, c.Weight)}
}
