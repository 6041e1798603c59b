package experiments

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/sim"
	"github.com/mezzo-cluster/mezzo/workloads/mpi"
)

// ModelRow is one case of the Section 4 model, measured in the simulator
// (mean over seeds) beside the paper's formula. Times are in units of T,
// the mean task duration.
type ModelRow struct {
	Case             string  `json:"case"`
	K                int     `json:"k"`
	Beta             float64 `json:"beta"`
	RampUpT          float64 `json:"ramp_up_T"`
	PredictedRampUpT float64 `json:"predicted_ramp_up_T"`
	CompletionT      float64 `json:"completion_T"`
	PredictedCompl   float64 `json:"predicted_completion_T"`
	Utilisation      float64 `json:"utilisation"`
	PredictedUtil    float64 `json:"predicted_utilisation"`
	CompletionSD     float64 `json:"completion_sd_T"`
	Seeds            int     `json:"seeds"`
}

// The model: a framework entitled to k slots arrives at a cluster of k
// slots all held by another framework's tasks of mean duration T, at random
// points of their lives (so with constant T their remaining times are
// uniform on [0, T], with exponential T exponential again). Each slot
// freed goes to the arriving framework, which has βkT of work: elastic,
// as many short tasks (T/20, so the work is nearly fluid, as the formulas
// assume); rigid, k tasks of βT that start together once it holds all k.
const (
	modelT    = 100 * time.Second
	modelBeta = 2.0
	modelT0   = 10 * time.Second
	modelGran = 20
)

type modelCase struct {
	name         string
	rigid, expon bool
}

var modelCases = []modelCase{
	{"elastic, constant T", false, false},
	{"elastic, exponential T", false, true},
	{"rigid, constant T", true, false},
	{"rigid, exponential T", true, true},
}

// predict is Table 2.
func (c modelCase) predict(k int, beta float64) (ramp, compl, util float64) {
	lnk := math.Log(float64(k))
	switch {
	case !c.rigid && !c.expon:
		return 1, 0.5 + beta, 1
	case !c.rigid:
		return lnk, 1 + beta, 1
	case !c.expon:
		return 1, 1 + beta, beta / (0.5 + beta)
	}
	return lnk, lnk + beta, beta / (lnk - 1 + beta)
}

func runModel(ctx context.Context, o Options) (*Result, error) {
	k := 32
	if o.Quick {
		k = 16
	}
	seeds := o.seeds()
	p := &progress{o: o, total: seeds * len(modelCases)}
	var rows []ModelRow
	for _, c := range modelCases {
		var ramp, compl, util []float64
		for seed := 1; seed <= seeds; seed++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			r, cp, u, err := modelRun(c, k, uint64(seed))
			if err != nil {
				return nil, fmt.Errorf("model, %s, seed %d: %w", c.name, seed, err)
			}
			ramp, compl, util = append(ramp, r), append(compl, cp), append(util, u)
			p.step()
		}
		pr, pc, pu := c.predict(k, modelBeta)
		rm, _ := meanSD(ramp)
		cm, csd := meanSD(compl)
		um, _ := meanSD(util)
		rows = append(rows, ModelRow{Case: c.name, K: k, Beta: modelBeta, RampUpT: r3(rm), PredictedRampUpT: r3(pr), CompletionT: r3(cm), PredictedCompl: r3(pc),
			Utilisation: r3(um), PredictedUtil: r3(pu), CompletionSD: r3(csd), Seeds: seeds})
	}
	return &Result{Experiment: "model", Rows: rows}, nil
}

// modelRun measures ramp-up time, completion time (both in T) and the
// framework's utilisation of what it held.
func modelRun(c modelCase, k int, seed uint64) (float64, float64, float64, error) {
	slot := mezzo.MustParseResources("cpus:1;mem:1024")
	s, err := sim.New(sim.Config{Agents: k, AgentResources: slot, Policy: "drf", Seed: seed, SampleEvery: modelT / 200})
	if err != nil {
		return 0, 0, 0, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d6f64656c))
	residual := make([]time.Duration, k)
	for i := range residual {
		if c.expon {
			residual[i] = time.Duration(rng.ExpFloat64() * float64(modelT))
		} else {
			residual[i] = time.Duration(rng.Float64() * float64(modelT))
		}
		residual[i] = max(residual[i], time.Millisecond)
	}
	bg := &greedy{name: "others", res: slot, durations: residual}
	bg.durationAt = func(i int, now time.Time) time.Duration {
		return sim.Epoch.Add(modelT0).Sub(now) + residual[i]
	}
	if err := s.AddFramework(sim.FrameworkSpec{Name: "others", Scheduler: bg, Done: bg.Done}); err != nil {
		return 0, 0, 0, err
	}
	var done func() bool
	var finish func() time.Time
	if c.rigid {
		m, err := mpi.New(mpi.Config{Name: "model", Cluster: clusterTotal(s), HoldTimeout: 1000 * modelT,
			Jobs: []mpi.Job{{ID: "job", Submit: modelT0, Tasks: k, TaskResources: slot, Duration: time.Duration(modelBeta * float64(modelT))}}})
		if err != nil {
			return 0, 0, 0, err
		}
		done = m.Done
		finish = func() time.Time { return m.Jobs()[0].Finish }
		if err := s.AddFramework(sim.FrameworkSpec{Name: "model", Scheduler: m, Done: m.Done}); err != nil {
			return 0, 0, 0, err
		}
	} else {
		n := int(modelBeta * float64(k) * modelGran)
		durs := make([]time.Duration, n)
		for i := range durs {
			durs[i] = modelT / modelGran
		}
		g := &greedy{name: "model", res: slot, durations: durs, notBefore: modelT0}
		done = g.Done
		finish = func() time.Time { return g.lastEnd }
		if err := s.AddFramework(sim.FrameworkSpec{Name: "model", Scheduler: g, Done: g.Done}); err != nil {
			return 0, 0, 0, err
		}
	}
	res, err := s.Run()
	if err != nil {
		return 0, 0, 0, err
	}
	if !done() {
		return 0, 0, 0, fmt.Errorf("the framework did not finish")
	}
	end := finish().Sub(sim.Epoch)
	// Ramp-up ends when the last slot held by others is freed: the
	// framework may be done before then (elastic, exponential), so its
	// own share need not ever reach k.
	ramp := bg.lastEnd.Sub(sim.Epoch.Add(modelT0)).Seconds()
	var held, used float64
	for _, sm := range res.Shares {
		if sm.Framework != "model" || sm.At < modelT0 || sm.At > end {
			continue
		}
		held += sm.Share
		used += sm.CPUShare
	}
	if held == 0 {
		return 0, 0, 0, fmt.Errorf("the framework never held a slot")
	}
	T := modelT.Seconds()
	return ramp / T, (end - modelT0).Seconds() / T, used / held, nil
}

// clusterTotal sums the agents' resources.
func clusterTotal(s *sim.Simulation) mezzo.Resources {
	var t mezzo.Resources
	for _, a := range s.Cluster().Agents() {
		t = t.Add(a.Resources)
	}
	return t
}
