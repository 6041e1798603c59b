package experiments

import (
	"context"
	"fmt"
	"time"

	"github.com/mezzo-cluster/mezzo/sim"
	"github.com/mezzo-cluster/mezzo/traces"
	"github.com/mezzo-cluster/mezzo/workloads/hadoop"
)

// LocalityRow is one setup of the locality experiment, averaged over seeds.
type LocalityRow struct {
	Setup             string  `json:"setup"`
	LocalityPct       float64 `json:"locality_pct"`
	LocalitySD        float64 `json:"locality_sd"`
	MeanJobRunningS   float64 `json:"mean_job_running_time_s"`
	MeanJobRunningSD  float64 `json:"mean_job_running_time_sd"`
	PaperLocalityPct  float64 `json:"paper_locality_pct"`
	PaperMeanJobTimeS float64 `json:"paper_mean_job_running_time_s"`
	Seeds             int     `json:"seeds"`
}

// localitySetup is a column of the paper's Figure 8.
type localitySetup struct {
	name   string
	policy string
	delay  time.Duration
	// paper's locality (%) and mean job running time (s), REPRODUCTION.md.
	paperLoc, paperJRT float64
}

var localitySetups = []localitySetup{
	{"static partitioning", "static", 0, 18, 570},
	{"mezzo, no delay scheduling", "drf", 0, 50, 490},
	{"mezzo, 1 s delay", "drf", time.Second, 93, 370},
	{"mezzo, 5 s delay", "drf", 5 * time.Second, 95, 340},
}

// Locality experiment sizes. The paper's 16 instances each scan a 100 GB
// file; here, as the issue asks, each instance runs a stream of map-only
// jobs whose sizes follow the Facebook bins of the delay scheduling paper:
// small jobs are where locality is hard (a one-map job's block lives on 3
// of 93 agents), and a static 5-6 agent partition holds a given block with
// probability 3 × 5.8 / 93 ≈ 18 %, the paper's static figure.
const (
	localityAgents    = 93
	localityInstances = 16
)

// localitySize: jobs per instance, their mean inter-arrival time and the
// bins. Both sizes keep the cluster's 372 slots about 80-90 % busy, as a
// shared cluster is: locality without delay scheduling is only hard when
// free slots are scarce. Quick runs drop the bins above 150 maps.
func localitySize(quick bool) (int, time.Duration, []traces.Bin) {
	if quick {
		return 4, 15 * time.Second, traces.FacebookBins()[:5]
	}
	return 12, 75 * time.Second, traces.FacebookBins()[:8]
}

func runLocality(ctx context.Context, o Options) (*Result, error) {
	seeds := o.seeds()
	p := &progress{o: o, total: seeds * len(localitySetups)}
	var rows []LocalityRow
	for _, st := range localitySetups {
		var loc, jrt []float64
		for seed := 1; seed <= seeds; seed++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			l, j, err := localityRun(st, uint64(seed), o.Quick)
			if err != nil {
				return nil, fmt.Errorf("locality, %s, seed %d: %w", st.name, seed, err)
			}
			loc, jrt = append(loc, l), append(jrt, j)
			p.step()
		}
		lm, ls := meanSD(loc)
		jm, js := meanSD(jrt)
		rows = append(rows, LocalityRow{Setup: st.name, LocalityPct: r1(lm), LocalitySD: r1(ls), MeanJobRunningS: r1(jm), MeanJobRunningSD: r1(js),
			PaperLocalityPct: st.paperLoc, PaperMeanJobTimeS: st.paperJRT, Seeds: seeds})
	}
	return &Result{Experiment: "locality", Rows: rows}, nil
}

// localityJobs are instance i's jobs for a seed.
func localityJobs(seed uint64, i int, quick bool) ([]traces.Job, error) {
	n, gap, bins := localitySize(quick)
	src, err := traces.NewSynthetic(traces.SyntheticOptions{Jobs: n, Seed: seed*1000 + uint64(i), MeanInterarrival: gap, MapOnly: true, Bins: bins}, traces.TaskModel{})
	if err != nil {
		return nil, err
	}
	return traces.ReadAll(src)
}

// localityRun runs one setup and returns the share of node-local map tasks
// (%) and the mean job running time (s) over all instances' jobs.
func localityRun(st localitySetup, seed uint64, quick bool) (float64, float64, error) {
	s, err := sim.New(sim.Config{Agents: localityAgents, Policy: st.policy, Seed: seed})
	if err != nil {
		return 0, 0, err
	}
	for i := 0; i < localityInstances; i++ {
		name := fmt.Sprintf("hadoop-%02d", i+1)
		jobs, err := localityJobs(seed, i, quick)
		if err != nil {
			return 0, 0, err
		}
		cfg := hadoop.DefaultConfig()
		cfg.Name, cfg.NodeDelay, cfg.RackDelay, cfg.Sharing = name, st.delay, st.delay, hadoop.Fair
		fw, err := hadoop.New(cfg, s.Storage(name))
		if err != nil {
			return 0, 0, err
		}
		if err := s.AddFramework(sim.FrameworkSpec{Name: name, Scheduler: fw, Jobs: jobs, Submit: fw.Submit, Done: fw.Done}); err != nil {
			return 0, 0, err
		}
	}
	res, err := s.Run()
	if err != nil {
		return 0, 0, err
	}
	var input, local int
	var jrt []float64
	for _, j := range res.Jobs {
		input += j.InputTasks
		local += j.LocalTasks
		if j.Completed {
			jrt = append(jrt, (j.Finish - j.Submit).Seconds())
		}
	}
	if input == 0 {
		return 0, 0, fmt.Errorf("no map task read input")
	}
	m, _ := meanSD(jrt)
	return 100 * float64(local) / float64(input), m, nil
}
