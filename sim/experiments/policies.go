package experiments

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/sim"
	"github.com/mezzo-cluster/mezzo/traces"
	"github.com/mezzo-cluster/mezzo/workloads/hadoop"
)

// PolicyRow is one framework (or "all") under one policy, over seeds.
type PolicyRow struct {
	Policy     string  `json:"policy"`
	Framework  string  `json:"framework"`
	Jobs       int     `json:"jobs"`
	MeanJCTS   float64 `json:"mean_jct_s"`
	P95JCTS    float64 `json:"p95_jct_s"`
	MeanShare  float64 `json:"mean_share"`
	JainIndex  float64 `json:"jain_index"`
	CPUUtilPct float64 `json:"cpu_util_pct"`
	Seeds      int     `json:"seeds"`
}

// The policies workload: one synthetic Facebook trace dealt round-robin to
// four Hadoop instances on 50 agents (200 slots), busy enough that the
// policy matters.
const (
	policyAgents     = 50
	policyFrameworks = 4
)

func runPolicies(ctx context.Context, o Options) (*Result, error) {
	pols := o.Policies
	if len(pols) == 0 {
		pols = alloc.DefaultRegistry().Names()
	}
	seeds := o.seeds()
	jobsN, bins, agents := 100, traces.FacebookBins()[:8], policyAgents
	if o.Quick {
		jobsN, bins, agents = 40, traces.FacebookBins()[:5], 12
	}
	p := &progress{o: o, total: seeds * len(pols)}
	var rows []PolicyRow
	var dists []Dist
	for _, pol := range pols {
		jct := map[string][]float64{}
		shares := map[string][]float64{}
		var jain, util []float64
		for seed := 1; seed <= seeds; seed++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			src, err := traces.NewSynthetic(traces.SyntheticOptions{Jobs: jobsN, Seed: uint64(seed), Bins: bins, MeanInterarrival: 10 * time.Second}, traces.TaskModel{})
			if err != nil {
				return nil, err
			}
			all, err := traces.ReadAll(src)
			if err != nil {
				return nil, err
			}
			s, err := sim.New(sim.Config{Agents: agents, Policy: pol, Seed: uint64(seed)})
			if err != nil {
				return nil, err
			}
			for i, jobs := range sim.SplitJobs(all, policyFrameworks) {
				name := fmt.Sprintf("hadoop-%d", i+1)
				cfg := hadoop.DefaultConfig()
				cfg.Name, cfg.Sharing = name, hadoop.Fair
				fw, err := hadoop.New(cfg, s.Storage(name))
				if err != nil {
					return nil, err
				}
				if err := s.AddFramework(sim.FrameworkSpec{Name: name, Scheduler: fw, Jobs: jobs, Submit: fw.Submit, Done: fw.Done}); err != nil {
					return nil, err
				}
			}
			res, err := s.Run()
			if err != nil {
				return nil, fmt.Errorf("policies, %s, seed %d: %w", pol, seed, err)
			}
			for _, j := range res.Jobs {
				if j.Completed {
					d := (j.Finish - j.Submit).Seconds()
					jct[j.Framework] = append(jct[j.Framework], d)
					jct["all"] = append(jct["all"], d)
				}
			}
			for _, f := range res.Summary.Frameworks {
				shares[f.Name] = append(shares[f.Name], f.MeanShare)
			}
			jain = append(jain, meanJain(res.Shares))
			util = append(util, 100*res.Summary.Util)
			p.step()
		}
		jm, _ := meanSD(jain)
		um, _ := meanSD(util)
		names := make([]string, 0, len(jct))
		for n := range jct {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			row := PolicyRow{Policy: pol, Framework: n, Jobs: len(jct[n]) / seeds, JainIndex: r3(jm), CPUUtilPct: r1(um), Seeds: seeds}
			m, _ := meanSD(jct[n])
			row.MeanJCTS, row.P95JCTS = r1(m), r1(quantile(0.95, jct[n]))
			if n == "all" {
				var tot float64
				for _, v := range shares {
					x, _ := meanSD(v)
					tot += x
				}
				row.MeanShare = r3(tot)
			} else {
				x, _ := meanSD(shares[n])
				row.MeanShare = r3(x)
			}
			rows = append(rows, row)
		}
		dists = append(dists, Dist{Name: pol, Values: jct["all"]})
	}
	return &Result{Experiment: "policies", Rows: rows, Dists: dists}, nil
}

// meanJain is Jain's fairness index over the frameworks' dominant shares,
// (Σx)² / (n Σx²), averaged over the sampling instants at which anyone held
// anything.
func meanJain(samples []sim.ShareSample) float64 {
	type acc struct {
		sum, sq float64
		n       int
	}
	byT := map[time.Duration]*acc{}
	var times []time.Duration
	for _, s := range samples {
		a := byT[s.At]
		if a == nil {
			a = &acc{}
			byT[s.At] = a
			times = append(times, s.At)
		}
		a.sum += s.Share
		a.sq += s.Share * s.Share
		a.n++
	}
	var tot float64
	var n int
	for _, t := range times {
		a := byT[t]
		if a.sq == 0 {
			continue
		}
		tot += a.sum * a.sum / (float64(a.n) * a.sq)
		n++
	}
	if n == 0 {
		return 0
	}
	return tot / float64(n)
}
