package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/bench"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

func runBenchOffers(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench offers", flag.ContinueOnError)
	agents := fs.Int("agents", 100, "emulated agents, each a gRPC client of the master")
	frameworks := fs.Int("frameworks", 2, "frameworks (scheduler drivers) keeping the cluster busy")
	duration := fs.Duration("duration", 10*time.Second, "measured window")
	warmup := fs.Duration("warmup", 0, "time before the window (default: the mean task duration, at least 1s)")
	dist := fs.String("task-durations", "normal:2s,500ms", "no-op task durations: fixed:D, normal:MEAN,STDDEV (clipped at 0) or exp:MEAN")
	agentRes := fs.String("agent-resources", "cpus:2;mem:2048", "resources of every agent (slots = how many tasks fit)")
	taskRes := fs.String("task-resources", bench.DefaultTaskResources.String(), "resources of every task")
	perConn := fs.Int("agents-per-conn", 100, "agents sharing one gRPC connection")
	policy := fs.String("policy", "drf", "allocation policy: "+strings.Join(alloc.DefaultRegistry().Names(), ", "))
	allocEvery := fs.Duration("allocation-interval", time.Second, "master's full allocation period")
	seed := fs.Uint64("seed", 1, "seed of the task durations")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of a table")
	benchFmt := fs.Bool("bench-format", false, "print the result as a Go benchmark line (for benchstat) instead of a table")
	prof := profileFlags(fs)
	verbose := fs.Bool("v", false, "log the master's, agents' and drivers' warnings to stderr")
	if done, err := parseNoArgs(fs, args); done || err != nil {
		return err
	}
	if err := checkFlags(fs,
		positive("agents"), positive("frameworks"), positive("duration"), nonNegative("warmup"),
		positive("agents-per-conn"), knownPolicy("policy"), positive("allocation-interval"),
	); err != nil {
		return err
	}
	d, err := bench.ParseDist(*dist)
	if err != nil {
		return fmt.Errorf("--task-durations: %w", err)
	}
	ar, err := someResources("agent-resources", *agentRes)
	if err != nil {
		return err
	}
	tr, err := someResources("task-resources", *taskRes)
	if err != nil {
		return err
	}
	cfg := bench.OffersConfig{
		Agents: *agents, Frameworks: *frameworks, Duration: *duration, Warmup: *warmup, TaskDurations: d,
		AgentResources: ar, TaskResources: tr, AgentsPerConn: *perConn, Seed: *seed,
		Master: master.Config{Policy: *policy, AllocationInterval: *allocEvery},
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	stop, err := prof.start()
	if err != nil {
		return err
	}
	res, err := bench.RunOffers(ctx, cfg)
	if perr := stop(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case *benchFmt:
		return res.WriteBenchFormat(os.Stdout)
	}
	return res.WriteTable(os.Stdout)
}

// profiles are the --cpuprofile and --memprofile flags every bench and
// experiment command takes.
type profiles struct{ cpu, mem *string }

func profileFlags(fs *flag.FlagSet) *profiles {
	return &profiles{
		cpu: fs.String("cpuprofile", "", "write a CPU profile of the run to this file"),
		mem: fs.String("memprofile", "", "write a heap profile at the end of the run to this file"),
	}
}

// start begins the CPU profile; the function it returns stops it and
// writes the heap profile.
func (p *profiles) start() (func() error, error) {
	var cpuFile *os.File
	if *p.cpu != "" {
		f, err := os.Create(*p.cpu)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		cpuFile = f
	}
	return func() error {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			if err := cpuFile.Close(); err != nil {
				return fmt.Errorf("--cpuprofile: %w", err)
			}
		}
		if *p.mem == "" {
			return nil
		}
		f, err := os.Create(*p.mem)
		if err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		defer f.Close()
		runtime.GC()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		return f.Close()
	}, nil
}
