package experiments

import (
	"context"
	"fmt"
	"math"
	"sort"
)

// SharingRow sums up one setup of the macrobenchmark's sharing: mean CPU
// and memory utilisation of the cluster while work was running.
type SharingRow struct {
	Setup           string  `json:"setup"`
	CPUUtilPct      float64 `json:"cpu_util_pct"`
	MemUtilPct      float64 `json:"mem_util_pct"`
	MakespanS       float64 `json:"makespan_s"`
	PaperCPUUtilPct float64 `json:"paper_cpu_util_pct"`
	PaperMemUtilPct float64 `json:"paper_mem_util_pct"`
}

// SharePoint is one framework's share of the cluster at one instant (the
// series behind the sharing figure); framework "all" carries the cluster's
// CPU and memory utilisation.
type SharePoint struct {
	Setup     string  `json:"setup"`
	TimeS     float64 `json:"time_s"`
	Framework string  `json:"framework"`
	Share     float64 `json:"share"`
	CPUShare  float64 `json:"cpu_share"`
	MemShare  float64 `json:"mem_share"`
}

func runSharing(ctx context.Context, o Options) (*Result, error) {
	p := &progress{o: o, total: 2}
	var rows []SharingRow
	var pts []SharePoint
	// Paper [fig]: CPU ≈ 70-85 % under Mesos vs 50-70 % static, memory
	// ≈ 25-45 % vs 10-17 %: the middles of those ranges.
	paper := map[string][2]float64{"static": {60, 13.5}, "drf": {77.5, 35}}
	for _, pol := range []string{"static", "drf"} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out, err := macroRun(pol, 1, o.Quick)
		if err != nil {
			return nil, fmt.Errorf("sharing, %s: %w", pol, err)
		}
		p.step()
		setup := "mezzo (drf)"
		if pol == "static" {
			setup = "static partitioning"
		}
		type tot struct{ cpu, mem float64 }
		byT := map[float64]*tot{}
		var times []float64
		for _, s := range out.shares {
			t := s.At.Seconds()
			pts = append(pts, SharePoint{Setup: setup, TimeS: t, Framework: s.Framework, Share: r3(s.Share), CPUShare: r3(s.CPUShare), MemShare: r3(s.MemShare)})
			if byT[t] == nil {
				byT[t] = &tot{}
				times = append(times, t)
			}
			byT[t].cpu += s.CPUShare
			byT[t].mem += s.MemShare
		}
		sort.Float64s(times)
		var cpu, mem float64
		for _, t := range times {
			pts = append(pts, SharePoint{Setup: setup, TimeS: t, Framework: "all", Share: r3(byT[t].cpu), CPUShare: r3(byT[t].cpu), MemShare: r3(byT[t].mem)})
			cpu += byT[t].cpu
			mem += byT[t].mem
		}
		n := math.Max(float64(len(times)), 1)
		rows = append(rows, SharingRow{Setup: setup, CPUUtilPct: r1(100 * cpu / n), MemUtilPct: r1(100 * mem / n), MakespanS: times[len(times)-1],
			PaperCPUUtilPct: paper[pol][0], PaperMemUtilPct: paper[pol][1]})
	}
	return &Result{Experiment: "sharing", Rows: rows, Extra: pts}, nil
}
