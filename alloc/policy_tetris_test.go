package alloc_test

import (
	"testing"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/alloc/alloctest"
)

// packingCase is tetris_packing.scenario in code: a CPU-rich and a
// memory-rich agent, a memory-heavy A and a CPU-heavy B. It returns the
// tasks each framework launched when every offer takes one task and
// declines the rest without a filter.
func packingCase(t *testing.T, p alloc.Policy) (a, b int) {
	t.Helper()
	al := alloctest.New(t, p)
	for _, ag := range []struct{ id, res string }{{"X", "cpus:6;mem:3072"}, {"Y", "cpus:3;mem:6144"}} {
		if err := al.AddAgent(mezzo.AgentID(ag.id), alloc.AgentInfo{Resources: mezzo.MustParseResources(ag.res)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	demand := map[mezzo.FrameworkID]mezzo.Resources{
		"A": mezzo.MustParseResources("cpus:1;mem:2048"),
		"B": mezzo.MustParseResources("cpus:2;mem:1024"),
	}
	for _, id := range []mezzo.FrameworkID{"A", "B"} {
		info := mezzo.FrameworkInfo{Name: string(id), Role: string(id)}
		info.Constraints.MinResources = demand[id]
		if err := al.AddFramework(id, info); err != nil {
			t.Fatal(err)
		}
	}
	tasks := map[mezzo.FrameworkID]int{}
	for range 10 {
		for _, o := range al.Allocate(alloctest.Epoch) {
			if o.Resources.Contains(demand[o.FrameworkID]) {
				if err := al.Accept(alloctest.Epoch, o.FrameworkID, []mezzo.OfferID{o.ID}, demand[o.FrameworkID], mezzo.Filters{Refuse: -1}); err != nil {
					t.Fatal(err)
				}
				tasks[o.FrameworkID]++
				continue
			}
			if err := al.Decline(alloctest.Epoch, o.FrameworkID, []mezzo.OfferID{o.ID}, mezzo.Filters{Refuse: -1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tasks["A"], tasks["B"]
}

func TestTetrisPacksMoreThanDRF(t *testing.T) {
	da, db := packingCase(t, alloc.DRF{})
	ta, tb := packingCase(t, alloc.Tetris{Fairness: 0})
	// Utilisation in CPUs: A tasks take 1, B tasks 2, of 9.
	if drf, tetris := da+2*db, ta+2*tb; tetris <= drf {
		t.Errorf("tetris used %d CPUs (A=%d B=%d), drf %d (A=%d B=%d): packing should use more", tetris, ta, tb, drf, da, db)
	}
	if ta != 3 || tb != 3 {
		t.Errorf("tetris launched A=%d B=%d, want the perfect packing A=3 B=3", ta, tb)
	}
}

func TestTetrisFullFairnessIsDRF(t *testing.T) {
	da, db := packingCase(t, alloc.DRF{})
	ta, tb := packingCase(t, alloc.Tetris{Fairness: 1})
	if da != ta || db != tb {
		t.Errorf("tetris f=1 launched A=%d B=%d, drf A=%d B=%d: f=1 must follow DRF's order", ta, tb, da, db)
	}
}

func TestTetrisChooseKnob(t *testing.T) {
	total := mezzo.MustParseResources("cpus:10;mem:10240")
	offer := mezzo.MustParseResources("cpus:8;mem:1024")
	cand := func(demand string) alloc.Candidate {
		return alloc.Candidate{
			Client: alloc.Client{Total: total},
			Demand: mezzo.MustParseResources(demand),
			Offer:  offer,
		}
	}
	// In rank order: a memory-heavy framework first, then two CPU-heavy
	// ones, the last aligned best.
	cands := []alloc.Candidate{cand("cpus:1;mem:4096"), cand("cpus:2;mem:512"), cand("cpus:4;mem:512")}
	for _, tc := range []struct {
		f    float64
		want int
	}{
		{0, 2},   // all three compete
		{0.5, 1}, // ⌈1.5⌉ = 2 compete
		{0.9, 0}, // ⌈0.3⌉ = 1: the most deprived
		{1, 0},   // DRF
		{-3, 2},  // clamped to 0
		{7, 0},   // clamped to 1
	} {
		if got := (alloc.Tetris{Fairness: tc.f}).Choose(alloc.AgentFit{}, cands); got != tc.want {
			t.Errorf("f=%v: chose %d, want %d", tc.f, got, tc.want)
		}
	}
}

func TestAlignmentFallsBackToHoldings(t *testing.T) {
	total := mezzo.MustParseResources("cpus:10;mem:1000")
	c := alloc.Candidate{
		Client: alloc.Client{Total: total, Allocated: mezzo.MustParseResources("cpus:2")},
		Offer:  mezzo.MustParseResources("cpus:5;mem:500"),
	}
	// No demand: scored by holdings, 2/10 * 5/10.
	if got := alloc.Alignment(c); got < 0.0999 || got > 0.1001 {
		t.Errorf("alignment by holdings = %v, want 0.1", got)
	}
	c.Client.Allocated = mezzo.Resources{}
	if got := alloc.Alignment(c); got != 0 {
		t.Errorf("alignment with no demand and no holdings = %v, want 0", got)
	}
}

// outOfRange always answers an index past the end: the allocator must read
// it as the first candidate, not panic.
type outOfRange struct{ alloc.DRF }

func (outOfRange) Choose(alloc.AgentFit, []alloc.Candidate) int { return 99 }

func TestChooseOutOfRangeIsFirst(t *testing.T) {
	al := alloctest.New(t, outOfRange{})
	alloctest.AddAgents(t, al, 1, mezzo.MustParseResources("cpus:4;mem:4096"))
	alloctest.AddFrameworks(t, al, 2, 2)
	offers := al.Allocate(alloctest.Epoch)
	if len(offers) != 1 || offers[0].FrameworkID != "fw-0000" {
		t.Fatalf("offers %v, want one to fw-0000", offers)
	}
}

func TestAssetRanksBySummedShares(t *testing.T) {
	total := mezzo.MustParseResources("cpus:9;mem:18")
	// <1 CPU, 4 mem> sums to 1/9 + 4/18 = 1/3; <3 CPU, 1 mem> to 7/18.
	a := alloc.Asset{}.Rank(alloc.Client{Weight: 1, Total: total, Allocated: mezzo.MustParseResources("cpus:1;mem:4")})
	b := alloc.Asset{}.Rank(alloc.Client{Weight: 2, Total: total, Allocated: mezzo.MustParseResources("cpus:3;mem:1")})
	if d := a.Major - 1.0/3; d > 1e-9 || d < -1e-9 {
		t.Errorf("asset share of <1,4> = %v, want 1/3", a.Major)
	}
	if d := b.Major - 7.0/36; d > 1e-9 || d < -1e-9 {
		t.Errorf("weighted asset share of <3,1> at weight 2 = %v, want 7/36", b.Major)
	}
}
