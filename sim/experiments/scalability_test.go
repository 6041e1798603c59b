package experiments

import (
	"testing"
	"time"
)

// TestSimulateScalability: a small busy cluster; the probe's overhead is
// at least the message hops it must make (register, offer, accept,
// launch, update: one DefaultLatency each) and well under the task mean.
func TestSimulateScalability(t *testing.T) {
	row, err := SimulateScalability(ScalabilityConfig{Agents: 100, Frameworks: 10, TaskMean: 2 * time.Second, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", row)
	if row.Busy < 0.9 {
		t.Errorf("cluster %.2f busy when probed; want the fillers to keep it full", row.Busy)
	}
	if len(row.OverheadsMS) != 3 {
		t.Fatalf("%d probes; want 3", len(row.OverheadsMS))
	}
	for _, o := range row.OverheadsMS {
		if o < 4 || o > 2000 {
			t.Errorf("probe overhead %.3f ms; want between four 1 ms hops and the 2 s task mean", o)
		}
	}
	again, err := SimulateScalability(ScalabilityConfig{Agents: 100, Frameworks: 10, TaskMean: 2 * time.Second, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if again.OverheadMS != row.OverheadMS || again.Busy != row.Busy {
		t.Errorf("same seed, different rows: %+v vs %+v", row, again)
	}
}
