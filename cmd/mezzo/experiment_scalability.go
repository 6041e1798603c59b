package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo/reports"
	"github.com/mezzo-cluster/mezzo/runtime/bench"
	"github.com/mezzo-cluster/mezzo/sim/experiments"
)

// scalabilityRow is one point of `mezzo experiment scalability`, real
// (runtime, wall time) or sim (simulator, virtual time).
type scalabilityRow struct {
	Mode                string  `json:"mode"`
	Agents              int     `json:"agents"`
	Frameworks          int     `json:"frameworks"`
	Slots               int     `json:"slots"`
	Busy                float64 `json:"busy"`
	OverheadMS          float64 `json:"overhead_ms"`
	OfferMS             float64 `json:"offer_ms"`
	MasterMSPerDecision float64 `json:"master_ms_per_decision"`
	MasterCPUMSPerDec   float64 `json:"master_cpu_ms_per_decision"`
	InboxWaitMS         float64 `json:"inbox_wait_ms"`
	MasterRSSMiB        float64 `json:"master_rss_mib"`
	AgentsActive        int     `json:"agents_active"`
	ProbesUnfinished    int     `json:"probes_unfinished"`
	CycleMeanMS         float64 `json:"alloc_cycle_mean_ms"`
	CycleMaxMS          float64 `json:"alloc_cycle_max_ms"`
	AgentHeapKiB        float64 `json:"agent_heap_kib"`
	HeapMiB             float64 `json:"heap_mib"`
	StartS              float64 `json:"start_s"`
	FillS               float64 `json:"fill_s"`
	WallS               float64 `json:"wall_s"`
	LoadAvg             float64 `json:"load_avg"`
}

// runScalabilityExperiment is `mezzo experiment scalability`: the Mesos
// paper's scalability figure against the real runtime (emulated agents)
// and, with --sim, the simulator; CSV, PNG/SVG and optionally JSON.
func runScalabilityExperiment(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("experiment scalability", flag.ContinueOnError)
	agentsFlag := fs.String("agents", "5000,10000,20000,50000", "comma-separated cluster sizes")
	frameworks := fs.Int("frameworks", 200, "frameworks keeping the cluster busy")
	out := fs.String("out", "reports/figures", "directory for scalability.csv, .png, .svg")
	asJSON := fs.Bool("json", false, `print {"experiment":"scalability","rows":[...]} on stdout`)
	withSim := fs.Bool("sim", false, "also run the same shape in the simulator (real allocator, virtual time); both curves on one plot")
	real := fs.Bool("real", true, "run against the real runtime (--real=false with --sim: simulator only)")
	dist := fs.String("task-durations", "exp:30s", "the fillers' task durations (real runs): fixed:D, normal:MEAN,STDDEV or exp:MEAN")
	probes := fs.Int("probes", 3, "probe frameworks per point (the median is reported)")
	perConn := fs.Int("agents-per-conn", 100, "emulated agents sharing one gRPC connection (each keeps its own stream)")
	probeTimeout := fs.Duration("probe-timeout", time.Minute, "longest a probe may take to run its task; slower ones are counted as unfinished")
	fillTimeout := fs.Duration("fill-timeout", 2*time.Minute, "longest wait for 95% of the slots to be busy")
	seed := fs.Uint64("seed", 1, "seed of task durations")
	steadyProf := fs.String("steady-cpuprofile", "", "write a CPU profile of each real point's busy cluster (the watch window and the probes) to FILE, or FILE-N for N agents with several points; not with --cpuprofile")
	masterProf := fs.String("master-cpuprofile", "", "with --master-process: the master writes a CPU profile of its run to FILE (FILE-N for N agents with several points)")
	window := fs.Duration("window", 3*time.Second, "how long the busy master is watched for its CPU per decision")
	masterProc := fs.Bool("master-process", true, "run the master in a child process (`mezzo master`), apart from the emulated agents and frameworks, as on its own machine; false: in this process")
	gcPercent := fs.Int("gc-percent", 400, "GOGC of this process (the emulated agents and frameworks; bounded by --memory-limit); -1 leaves it as the environment set it")
	memLimit := fs.Int64("memory-limit", 8<<30, "soft memory limit of this process in bytes (the collector runs harder near it); 0 leaves it")
	prof := profileFlags(fs)
	if done, err := parseNoArgs(fs, args); done || err != nil {
		return err
	}
	if err := checkFlags(fs,
		positive("frameworks"), nonEmpty("out"), positive("probes"), positive("agents-per-conn"),
		positive("probe-timeout"), positive("fill-timeout"), positive("window"), atLeast("gc-percent", -1),
		nonNegative("memory-limit"),
	); err != nil {
		return err
	}
	var sizes []int
	for _, s := range strings.Split(*agentsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("--agents: %q is not a positive number of agents", s)
		}
		sizes = append(sizes, n)
	}
	d, err := bench.ParseDist(*dist)
	if err != nil {
		return fmt.Errorf("--task-durations: %w", err)
	}
	if *steadyProf != "" && *prof.cpu != "" {
		return errors.New("--steady-cpuprofile and --cpuprofile both want the one CPU profiler; pick one")
	}
	if !*real && !*withSim {
		return errors.New("--real=false without --sim runs nothing")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	stop, err := prof.start()
	if err != nil {
		return err
	}
	defer func() { _ = stop() }()

	var rows []scalabilityRow
	save := func() error { return writeScalability(*out, rows) }
	say := func(s string) { fmt.Fprintf(os.Stderr, "scalability: %s\n", s) }
	if *withSim {
		for _, n := range sizes {
			say(fmt.Sprintf("%d agents: simulating", n))
			r, err := experiments.SimulateScalability(experiments.ScalabilityConfig{Agents: n, Frameworks: *frameworks, Probes: *probes, TaskMean: d.Mean, Seed: *seed})
			if err != nil {
				return err
			}
			rows = append(rows, scalabilityRow{Mode: "sim", Agents: n, Frameworks: r.Frameworks, Slots: r.Slots, Busy: r.Busy, OverheadMS: r.OverheadMS, WallS: r.WallS})
			if err := save(); err != nil {
				return err
			}
		}
	}
	if *real {
		// The emulation's heap is large (tens of thousands of agents) but
		// its garbage short-lived: a higher GOGC under a memory limit
		// spends less of the machine marking it, which is time taken from
		// the master (see runtime/bench doc).
		if *gcPercent >= 0 {
			debug.SetGCPercent(*gcPercent)
		}
		if *memLimit > 0 {
			debug.SetMemoryLimit(*memLimit)
		}
		var masterCmd []string
		if *masterProc {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("--master-process: finding this executable: %w", err)
			}
			masterCmd = []string{exe, "master"}
		}
		for _, n := range sizes {
			start := time.Now()
			cfg := bench.ScalabilityConfig{
				Agents: n, Frameworks: *frameworks, TaskDurations: d, Probes: *probes, FillTimeout: *fillTimeout, Seed: *seed, Progress: say,
				Window: *window, ProbeTimeout: *probeTimeout, AgentsPerConn: *perConn, MasterCommand: masterCmd, MasterLog: os.Stderr,
			}
			if *masterProf != "" && masterCmd != nil {
				cfg.MasterProfile = *masterProf
				if len(sizes) > 1 {
					cfg.MasterProfile = fmt.Sprintf("%s-%d", *masterProf, n)
				}
			}
			var pf *os.File
			if *steadyProf != "" {
				name := *steadyProf
				if len(sizes) > 1 {
					name = fmt.Sprintf("%s-%d", name, n)
				}
				if pf, err = os.Create(name); err != nil {
					return err
				}
				cfg.SteadyProfile = pf
			}
			r, err := bench.RunScalability(ctx, cfg)
			if pf != nil {
				if cerr := pf.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return fmt.Errorf("%d agents: %w", n, err)
			}
			rows = append(rows, scalabilityRow{Mode: "real", Agents: n, Frameworks: r.Frameworks, Slots: r.Slots, Busy: r.Busy,
				OverheadMS: r.OverheadMS, OfferMS: r.OfferMS, MasterMSPerDecision: r.MasterMSPerDecision,
				MasterCPUMSPerDec: r.MasterCPUMSPerDecision, InboxWaitMS: r.InboxWaitMS, MasterRSSMiB: r.MasterRSSBytes / (1 << 20), AgentsActive: r.AgentsActive, ProbesUnfinished: r.ProbesUnfinished,
				CycleMeanMS: r.CycleMeanMS, CycleMaxMS: r.CycleMaxMS, AgentHeapKiB: r.AgentHeapBytes / 1024, HeapMiB: r.HeapBytes / (1 << 20),
				StartS: r.StartS, FillS: r.FillS, WallS: time.Since(start).Seconds(), LoadAvg: r.LoadAvg})
			say(fmt.Sprintf("%d agents: %.1f%% busy, overhead %.1f ms (offer %.1f ms), master loop %.3f ms / CPU %.3f ms per decision, inbox wait %.2f ms, %.1f KiB per agent, %d agents active at the end, %d probes unfinished, took %v",
				n, 100*r.Busy, r.OverheadMS, r.OfferMS, r.MasterMSPerDecision, r.MasterCPUMSPerDecision, r.InboxWaitMS, r.AgentHeapBytes/1024, r.AgentsActive, r.ProbesUnfinished, time.Since(start).Round(time.Second)))
			if err := save(); err != nil {
				return err
			}
		}
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(struct {
			Experiment string           `json:"experiment"`
			Rows       []scalabilityRow `json:"rows"`
		}{"scalability", rows})
	}
	fmt.Fprintf(os.Stderr, "scalability: wrote %s.{csv,png,svg}\n", filepath.Join(*out, "scalability"))
	return nil
}

// writeScalability writes the rows so far as CSV and the figure: overhead
// against cluster size, real and simulated, with the paper's approximate
// curve dashed.
func writeScalability(dir string, rows []scalabilityRow) error {
	t, err := reports.TableOf(rows)
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "scalability.csv"))
	if err != nil {
		return err
	}
	if err := t.WriteCSV(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	var lines []reports.Series
	for _, mode := range []string{"real", "sim"} {
		s := reports.Series{Name: map[string]string{"real": "mezzo runtime (emulated agents)", "sim": "simulator (virtual time)"}[mode]}
		for _, r := range rows {
			if r.Mode == mode {
				s.X, s.Y = append(s.X, float64(r.Agents)), append(s.Y, r.OverheadMS)
			}
		}
		if len(s.X) > 0 {
			lines = append(lines, s)
		}
	}
	// Read off the paper's Figure 10: about 0.14 s at 1,000 slaves and
	// 0.75 s at 50,000.
	lines = append(lines, reports.Series{Name: "Mesos paper (approx.)", X: []float64{1000, 50000}, Y: []float64{140, 750}, Dashed: true})
	return reports.Figure{Panels: []reports.Panel{{
		Title: "Scheduling overhead of one task, cluster busy (200 frameworks, 30 s tasks)", XLabel: "agents", YLabel: "overhead (ms)", LogX: true,
		Lines: lines,
	}}}.Save(filepath.Join(dir, "scalability"))
}
