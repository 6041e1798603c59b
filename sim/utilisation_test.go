package sim_test

import (
	"math"
	"testing"

	"github.com/mezzo-cluster/mezzo/sim/runspec"
)

// Cluster utilisation is the CPU the tasks of all frameworks use together,
// averaged over time: never above 1, even when frameworks come and go.
func TestClusterUtilisationIsAFraction(t *testing.T) {
	spec := runspec.Spec{Trace: "synthetic:fb", Jobs: 40, Agents: 40, Policy: "drf", Frameworks: []string{"hadoop", "spark"}, Seed: 1}
	s, err := spec.New()
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	byInstant := map[float64]float64{}
	for _, sm := range res.Shares {
		byInstant[sm.At.Seconds()] += sm.CPUShare
	}
	var sum float64
	for _, v := range byInstant {
		if v > 1+1e-9 {
			t.Fatalf("tasks use %.4f of the CPUs at one instant", v)
		}
		sum += v
	}
	want := sum / float64(len(byInstant))
	got := res.Summary.Util
	if got < 0 || got > 1 || math.Abs(got-want) > 1e-5 {
		t.Fatalf("cluster utilisation %v, want the mean over instants %v (in [0,1])", got, want)
	}
}
