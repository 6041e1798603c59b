package experiments

import (
	"context"
	"math"
	"strings"
	"testing"
)

func TestLookupUnknownListsKnown(t *testing.T) {
	_, err := Lookup("nope")
	if err == nil || !strings.Contains(err.Error(), "locality") || !strings.Contains(err.Error(), "policies") {
		t.Fatalf("Lookup(nope) = %v, want an error listing the experiments", err)
	}
}

// Delay scheduling must raise locality above no delay, and sharing the
// cluster above static partitioning: the paper's Figure 8 ordering.
func TestLocalityOrdering(t *testing.T) {
	res, err := runLocality(context.Background(), Options{Quick: true, Seeds: 1})
	if err != nil {
		t.Fatal(err)
	}
	rows := res.Rows.([]LocalityRow)
	loc := map[string]float64{}
	for _, r := range rows {
		loc[r.Setup] = r.LocalityPct
	}
	static, none, five := loc["static partitioning"], loc["mezzo, no delay scheduling"], loc["mezzo, 5 s delay"]
	if !(static < none && none < five) {
		t.Errorf("locality static %.1f, no delay %.1f, 5 s delay %.1f: want strictly increasing", static, none, five)
	}
}

// The constant-T elastic case is the one the formulas describe exactly
// (fluid work, uniform residual lives): the simulation must follow them.
func TestModelElasticConstantFollowsFormula(t *testing.T) {
	res, err := runModel(context.Background(), Options{Quick: true, Seeds: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows.([]ModelRow) {
		if r.Case != "elastic, constant T" && r.Case != "rigid, constant T" {
			continue
		}
		for _, c := range []struct {
			what      string
			got, want float64
			tol       float64
		}{
			// ramp-up is the largest of k uniform residuals: k/(k+1) T
			{"ramp-up", r.RampUpT, r.PredictedRampUpT, 0.1},
			{"completion", r.CompletionT, r.PredictedCompl, 0.1},
			{"utilisation", r.Utilisation, r.PredictedUtil, 0.05},
		} {
			if math.Abs(c.got-c.want) > c.tol*c.want {
				t.Errorf("%s: %s %.3f, formula %.3f (tolerance %.0f%%)", r.Case, c.what, c.got, c.want, 100*c.tol)
			}
		}
	}
}

func TestMacroElasticFrameworksGainFromSharing(t *testing.T) {
	res, err := runMacro(context.Background(), Options{Quick: true, Seeds: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows.([]MacroRow) {
		if r.Jobs == 0 || r.StaticSumS <= 0 || r.MezzoSumS <= 0 {
			t.Errorf("%s: %d jobs, sums %v and %v: want jobs that ran", r.Framework, r.Jobs, r.StaticSumS, r.MezzoSumS)
		}
		if (r.Framework == "facebook" || r.Framework == "hadoop-large") && r.Speedup <= 1 {
			t.Errorf("%s: speedup %.2f under mezzo, want > 1 (elastic frameworks use idle quarters)", r.Framework, r.Speedup)
		}
		// Torque acquires nodes as offered and keeps them, so under DRF a
		// gang waits seconds, not minutes: about as fast as its static
		// quarter (the offer-holding gang got 0.4 at full size).
		if r.Framework == "torque" && r.Speedup < 0.9 {
			t.Errorf("torque: speedup %.2f under mezzo, want ≥ 0.9 (gangs should not starve under DRF)", r.Speedup)
		}
	}
}

func TestJainIndex(t *testing.T) {
	if got := meanJain(nil); got != 0 {
		t.Errorf("no samples: %v", got)
	}
}

func TestTimeWeightedMean(t *testing.T) {
	// 1 for 10 s, then 0 for 30 s: over 40 s the mean is 0.25; cut at 20 s,
	// 0.5; uneven spacing must not weigh samples equally (their plain mean
	// is 1/3).
	times, vals := []float64{0, 10, 20, 40}, []float64{1, 0, 0, 1}
	for _, c := range []struct{ end, want float64 }{{40, 0.25}, {20, 0.5}, {5, 1}} {
		if got := timeWeightedMean(times, vals, c.end); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("over [0, %v]: %v, want %v", c.end, got, c.want)
		}
	}
}
