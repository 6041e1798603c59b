package experiments

import (
	"context"
	"fmt"
	"math"
	"sort"
)

// SharingRow sums up one setup of the macrobenchmark's sharing: the CPU and
// memory that running tasks used, as a share of the cluster, time-weighted
// over the window both setups were running (0 to the shorter makespan).
//
// Why that window: the same work finishes sooner under mezzo, and a mean
// over each setup's own run divides the same busy CPU-seconds by a shorter
// makespan, so a setup that packs the work better shows no gain; over the
// common window both setups have work to do and a higher number means more
// of the cluster was busy.
type SharingRow struct {
	Setup           string  `json:"setup"`
	CPUUtilPct      float64 `json:"cpu_util_pct"`
	MemUtilPct      float64 `json:"mem_util_pct"`
	WindowS         float64 `json:"window_s"`
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
	type series struct {
		setup, pol  string
		times       []float64
		cpu, mem    []float64
		makespanEnd float64
	}
	var runs []series
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
		if len(times) == 0 {
			return nil, fmt.Errorf("sharing, %s: the run took no samples", pol)
		}
		sort.Float64s(times)
		sr := series{setup: setup, pol: pol, times: times}
		for _, t := range times {
			pts = append(pts, SharePoint{Setup: setup, TimeS: t, Framework: "all", Share: r3(byT[t].cpu), CPUShare: r3(byT[t].cpu), MemShare: r3(byT[t].mem)})
			sr.cpu = append(sr.cpu, byT[t].cpu)
			sr.mem = append(sr.mem, byT[t].mem)
		}
		sr.makespanEnd = times[len(times)-1]
		runs = append(runs, sr)
	}
	window := math.Inf(1)
	for _, sr := range runs {
		window = math.Min(window, sr.makespanEnd)
	}
	for _, sr := range runs {
		cpu := timeWeightedMean(sr.times, sr.cpu, window)
		mem := timeWeightedMean(sr.times, sr.mem, window)
		rows = append(rows, SharingRow{Setup: sr.setup, CPUUtilPct: r1(100 * cpu), MemUtilPct: r1(100 * mem), WindowS: window, MakespanS: sr.makespanEnd,
			PaperCPUUtilPct: paper[sr.pol][0], PaperMemUtilPct: paper[sr.pol][1]})
	}
	return &Result{Experiment: "sharing", Rows: rows, Extra: pts}, nil
}

// timeWeightedMean is the mean of a step function over [0, end]: each
// sample's value holds from its time until the next sample (the last one
// until end). Samples need not be evenly spaced.
func timeWeightedMean(times, values []float64, end float64) float64 {
	if end <= 0 {
		return 0
	}
	var sum float64
	for i, t := range times {
		if t >= end {
			break
		}
		next := end
		if i+1 < len(times) {
			next = math.Min(times[i+1], end)
		}
		sum += values[i] * (next - t)
	}
	return sum / end
}
