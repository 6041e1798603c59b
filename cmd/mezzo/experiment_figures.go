package main

import (
	"fmt"

	"github.com/mezzo-cluster/mezzo/reports"
	"github.com/mezzo-cluster/mezzo/sim/experiments"
)

// experimentFigure maps an experiment's rows to its figure: the one place
// that knows both the row types and what the paper's figure showed.
func experimentFigure(res *experiments.Result) (reports.Figure, error) {
	switch rows := res.Rows.(type) {
	case []experiments.LocalityRow:
		var cats []string
		loc := [][]float64{{}, {}}
		jrt := [][]float64{{}, {}}
		for _, r := range rows {
			cats = append(cats, shortSetup(r.Setup))
			loc[0], loc[1] = append(loc[0], r.PaperLocalityPct), append(loc[1], r.LocalityPct)
			jrt[0], jrt[1] = append(jrt[0], r.PaperMeanJobTimeS), append(jrt[1], r.MeanJobRunningS)
		}
		return reports.Figure{Panels: []reports.Panel{
			{Title: "Data locality (Figure 8)", YLabel: "node-local map tasks (%)", YMin: 0, YMax: 105,
				Bars: &reports.Bars{Categories: cats, Series: []string{"paper", "mezzo"}, Values: loc}},
			{Title: "Mean job running time", YLabel: "time (s)",
				Bars: &reports.Bars{Categories: cats, Series: []string{"paper (100 GB scans)", "mezzo (Facebook map-only jobs)"}, Values: jrt}},
		}}, nil
	case []experiments.MacroRow:
		var cats []string
		v := [][]float64{{}, {}}
		for _, r := range rows {
			cats = append(cats, r.Framework)
			v[0], v[1] = append(v[0], r.PaperSpeedup), append(v[1], r.Speedup)
		}
		return reports.Figure{Panels: []reports.Panel{{Title: "Speedup under mezzo (DRF) over static partitioning (Table 3)", YLabel: "speedup (static / shared time)",
			Bars: &reports.Bars{Categories: cats, Series: []string{"paper", "mezzo"}, Values: v}}}}, nil
	case []experiments.SharingRow:
		pts, _ := res.Extra.([]experiments.SharePoint)
		return sharingFigure(pts), nil
	case []experiments.ModelRow:
		var cats []string
		v := [][]float64{{}, {}, {}, {}}
		for _, r := range rows {
			cats = append(cats, r.Case)
			v[0], v[1] = append(v[0], r.PredictedRampUpT), append(v[1], r.RampUpT)
			v[2], v[3] = append(v[2], r.PredictedCompl), append(v[3], r.CompletionT)
		}
		u := [][]float64{{}, {}}
		for _, r := range rows {
			u[0], u[1] = append(u[0], r.PredictedUtil), append(u[1], r.Utilisation)
		}
		return reports.Figure{Panels: []reports.Panel{
			{Title: fmt.Sprintf("Section 4 model, k = %d, beta = %g: times", rows[0].K, rows[0].Beta), YLabel: "time (multiples of mean task duration T)",
				Bars: &reports.Bars{Categories: cats, Series: []string{"ramp-up, formula", "ramp-up, simulated", "completion, formula", "completion, simulated"}, Values: v}},
			{Title: "Utilisation of the slots held", YLabel: "utilisation (fraction)", YMin: 0, YMax: 1.1,
				Bars: &reports.Bars{Categories: cats, Series: []string{"formula", "simulated"}, Values: u}},
		}}, nil
	case []experiments.SparkRow:
		var it, h, s, ph, ps []float64
		for _, r := range rows {
			it = append(it, float64(r.Iterations))
			h, s = append(h, r.HadoopTotalS), append(s, r.SparkTotalS)
			ph, ps = append(ph, r.PaperHadoopTotalS), append(ps, r.PaperSparkTotalS)
		}
		return reports.Figure{Panels: []reports.Panel{{Title: "Logistic regression (Figure 9)", XLabel: "iterations", YLabel: "total running time (s)",
			Lines: []reports.Series{
				{Name: "Hadoop-style, mezzo", X: it, Y: h}, {Name: "Spark-style, mezzo", X: it, Y: s},
				{Name: "Hadoop, paper", X: it, Y: ph, Dashed: true}, {Name: "Spark, paper", X: it, Y: ps, Dashed: true},
			}}}}, nil
	case []experiments.PolicyRow:
		var cats []string
		v := [][]float64{{}, {}}
		j := [][]float64{{}, {}}
		for _, r := range rows {
			if r.Framework != "all" {
				continue
			}
			cats = append(cats, r.Policy)
			v[0], v[1] = append(v[0], r.MeanJCTS), append(v[1], r.P95JCTS)
			j[0], j[1] = append(j[0], r.JainIndex), append(j[1], r.CPUUtilPct/100)
		}
		var ds []reports.Dist
		for _, d := range res.Dists {
			ds = append(ds, reports.Dist{Name: d.Name, Values: d.Values})
		}
		return reports.Figure{Panels: []reports.Panel{
			{Title: "Job completion times under each policy", XLabel: "job completion time (s, log scale)", YLabel: "fraction of jobs", CDF: ds, LogX: true},
			{Title: "Mean and 95th percentile", YLabel: "job completion time (s)", Bars: &reports.Bars{Categories: cats, Series: []string{"mean", "p95"}, Values: v}},
			{Title: "Fairness and utilisation", YLabel: "index or fraction", YMin: 0, YMax: 1.1, Bars: &reports.Bars{Categories: cats, Series: []string{"Jain's index of dominant shares", "CPU utilisation"}, Values: j}},
		}, Height: 27 * 37.8}, nil // 27 cm in points
	}
	return reports.Figure{}, fmt.Errorf("experiment %s: no figure for rows of type %T", res.Experiment, res.Rows)
}

func shortSetup(s string) string {
	switch s {
	case "static partitioning":
		return "static"
	case "mezzo, no delay scheduling":
		return "no delay"
	case "mezzo, 1 s delay":
		return "1 s delay"
	case "mezzo, 5 s delay":
		return "5 s delay"
	}
	return s
}

// sharingFigure: one panel of shares per setup, one of utilisation.
func sharingFigure(pts []experiments.SharePoint) reports.Figure {
	type key struct{ setup, fw string }
	series := map[key]*reports.Series{}
	var order []key
	for _, p := range pts {
		k := key{p.Setup, p.Framework}
		if series[k] == nil {
			series[k] = &reports.Series{Name: p.Framework}
			order = append(order, k)
		}
		s := series[k]
		s.X = append(s.X, p.TimeS)
		if p.Framework == "all" {
			s.Y = append(s.Y, 100*p.CPUShare)
		} else {
			s.Y = append(s.Y, p.Share)
		}
	}
	setups := []string{"mezzo (drf)", "static partitioning"}
	var panels []reports.Panel
	for _, st := range setups {
		var ls []reports.Series
		for _, k := range order {
			if k.setup == st && k.fw != "all" {
				ls = append(ls, *series[k])
			}
		}
		if len(ls) > 0 {
			panels = append(panels, reports.Panel{Title: "Share of the cluster, " + st, XLabel: "time (s)", YLabel: "dominant share (fraction)", YMin: 0, YMax: 1.05, Lines: ls})
		}
	}
	var util []reports.Series
	for _, st := range setups {
		k := key{st, "all"}
		if s := series[k]; s != nil {
			c := *s
			c.Name = "CPU, " + st
			util = append(util, c)
			m := reports.Series{Name: "memory, " + st, X: s.X, Dashed: true}
			for _, p := range pts {
				if p.Setup == st && p.Framework == "all" {
					m.Y = append(m.Y, 100*p.MemShare)
				}
			}
			util = append(util, m)
		}
	}
	if len(util) > 0 {
		panels = append(panels, reports.Panel{Title: "Cluster utilisation", XLabel: "time (s)", YLabel: "utilisation (%)", YMin: 0, YMax: 105, Lines: util})
	}
	return reports.Figure{Panels: panels}
}
