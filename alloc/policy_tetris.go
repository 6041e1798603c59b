package alloc

import "math"

// Tetris is a packing policy in the spirit of Tetris (Grandl et al.,
// SIGCOMM 2014): an agent goes to the framework whose demand is best aligned
// with the agent's free resources, so CPU-heavy work lands where CPU is left
// and memory-heavy work where memory is, and less is stranded.
//
// Alignment is the dot product of the framework's demand and the resources
// it would be offered, each resource divided by the cluster's total of it so
// that no unit dominates. Demand is the framework's stated task size
// (FrameworkInfo.Constraints.MinResources); a framework that states none is
// scored by what it holds now, the direction of its past tasks, and scores 0
// when it holds nothing.
//
// Fairness is Tetris's knob f in [0, 1]: only the ⌈(1−f)·n⌉ frameworks
// furthest below their DRF share among the n eligible compete on alignment
// (at least one). f = 0 packs greedily; f = 1 is DRF. Ties go to the one
// further below its share. Rank is weighted DRF, which orders roles and
// frameworks for the knob and for the rank-only parts of the allocator.
//
// Not modelled: Tetris's remaining-work term (shortest job first) and its
// multi-resource disk and network demands; mezzo frameworks state one task
// size, not a job's remaining tasks.
type Tetris struct {
	anyAgent
	// Fairness is the knob f; values outside [0, 1] are clamped.
	Fairness float64
}

// DefaultTetrisFairness is the knob of the registered "tetris" policy: a
// quarter of the eligible frameworks, the most favoured by DRF, are left out
// of the packing contest. Tetris's evaluation found small f keeps most of
// the packing gain while bounding unfairness.
const DefaultTetrisFairness = 0.25

// Name implements Policy.
func (Tetris) Name() string { return "tetris" }

// Rank implements Policy.
func (Tetris) Rank(c Client) Rank { return DRF{}.Rank(c) }

// Choose implements AgentAwarePolicy.
func (p Tetris) Choose(_ AgentFit, cands []Candidate) int {
	f := min(max(p.Fairness, 0), 1)
	n := int(math.Ceil((1 - f) * float64(len(cands))))
	n = min(max(n, 1), len(cands))
	best, bestScore := 0, math.Inf(-1)
	for i, c := range cands[:n] {
		if s := Alignment(c); s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// Alignment is Tetris's score of a candidate: Σ_r (d_r/T_r)·(o_r/T_r) over
// the scalar resources r of its demand d, with o the offer and T the
// cluster total.
func Alignment(c Candidate) float64 {
	d := c.Demand
	if d.IsEmpty() {
		d = c.Client.Allocated
	}
	total := c.Client.Total
	s := 0.0
	for _, x := range d.Scalars() {
		t := total.Get(x.Name)
		if t <= 0 {
			continue
		}
		s += x.Value() / t * c.Offer.Get(x.Name) / t
	}
	return s
}

// The allocator finds Choose by type assertion; this keeps the method set honest.
var _ AgentAwarePolicy = Tetris{}
