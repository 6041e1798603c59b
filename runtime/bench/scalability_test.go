package bench

import (
	"context"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// TestRunScalability runs a small point: 20 agents of two slots kept
// busy by four frameworks, then two probes.
func TestRunScalability(t *testing.T) {
	row, err := RunScalability(context.Background(), ScalabilityConfig{
		Agents: 20, Frameworks: 4, TaskDurations: Dist{Kind: "exp", Mean: 500 * time.Millisecond},
		AgentResources: mezzo.MustParseResources("cpus:2;mem:256"), TaskResources: mezzo.MustParseResources("cpus:1;mem:128"),
		Fill: 0.8, FillTimeout: 10 * time.Second, Probes: 2, Window: 300 * time.Millisecond, Timeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", row)
	if row.Slots != 40 || row.Agents != 20 || row.Frameworks != 4 {
		t.Errorf("row echoes %d slots, %d agents, %d frameworks", row.Slots, row.Agents, row.Frameworks)
	}
	if row.Busy < 0.8 {
		t.Errorf("probed with %.2f of the slots busy; want at least 0.8", row.Busy)
	}
	if len(row.OverheadsMS) != 2 || row.OverheadMS <= 0 || row.OfferMS <= 0 || row.OfferMS > row.OverheadMS {
		t.Errorf("overheads %v (median %.2f), offer %.2f: want two positive, offer within the overhead", row.OverheadsMS, row.OverheadMS, row.OfferMS)
	}
	// The heap per agent is not checked: at 20 agents it is within the
	// noise of other tests' clusters winding down (TestRunLaunch checks
	// it on its own).
	if row.MasterMSPerDecision <= 0 {
		t.Errorf("master ms per decision %.4f", row.MasterMSPerDecision)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{5, 1, 3}); m != 3 {
		t.Errorf("median of 5,1,3 = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 4,1,3,2 = %v", m)
	}
	if m := median(nil); m != 0 {
		t.Errorf("median of nothing = %v", m)
	}
}
