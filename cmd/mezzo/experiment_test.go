package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mezzo-cluster/mezzo/sim/experiments"
)

// Every experiment's quick run writes a CSV with the expected header, a
// Markdown fragment, a PNG that decodes and an SVG.
func TestExperimentsQuickWriteFiles(t *testing.T) {
	dir := t.TempDir()
	if err := runExperiment(context.Background(), []string{"all", "--quick", "--seeds", "1", "--out", dir}); err != nil {
		t.Fatal(err)
	}
	headers := map[string]string{
		"locality": "setup,locality_pct,locality_sd,mean_job_running_time_s",
		"macro":    "framework,jobs,static_sum_s,mezzo_sum_s,speedup",
		"sharing":  "setup,cpu_util_pct,mem_util_pct",
		"model":    "case,k,beta,ramp_up_T,predicted_ramp_up_T,completion_T,predicted_completion_T,utilisation,predicted_utilisation",
		"spark":    "iterations,hadoop_total_s,spark_total_s",
		"policies": "policy,framework,jobs,mean_jct_s,p95_jct_s,mean_share,jain_index,cpu_util_pct",
	}
	for _, name := range experiments.Names() {
		b, err := os.ReadFile(filepath.Join(dir, name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatalf("%s.csv: %v", name, err)
		}
		if len(recs) < 2 {
			t.Errorf("%s.csv has no rows", name)
			continue
		}
		if h := strings.Join(recs[0], ","); !strings.HasPrefix(h, headers[name]) {
			t.Errorf("%s.csv header %q, want it to start %q", name, h, headers[name])
		}
		fh, err := os.Open(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(fh)
		fh.Close()
		if err != nil || cfg.Width < 500 || cfg.Height < 300 {
			t.Errorf("%s.png: %v, %dx%d", name, err, cfg.Width, cfg.Height)
		}
		svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s.svg: %v", name, err)
		}
		md, err := os.ReadFile(filepath.Join(dir, name+".md"))
		if err != nil || !bytes.Contains(md, []byte("| ")) {
			t.Errorf("%s.md: %v, want a table", name, err)
		}
	}
}

// The same seed gives byte-identical CSV.
func TestExperimentDeterministic(t *testing.T) {
	var outs [2][]byte
	for i := range outs {
		dir := t.TempDir()
		if err := runExperiment(context.Background(), []string{"macro", "--quick", "--seeds", "1", "--out", dir}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "macro.csv"))
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = b
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Errorf("two runs differ:\n%s\n%s", outs[0], outs[1])
	}
}

func TestExperimentUnknownName(t *testing.T) {
	err := runExperiment(context.Background(), []string{"nope"})
	if err == nil || !strings.Contains(err.Error(), "locality") {
		t.Errorf("unknown experiment: %v, want an error listing the known ones", err)
	}
}
