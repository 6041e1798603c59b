package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/bench"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

func runBench(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: mezzo bench launch|offers [flags]\n\n  launch  task launch throughput and offer latency through a real master and emulated agents\n  offers  offer latency below saturation over a time window (JSON and Go benchmark format for benchstat)\n  compare OLD NEW: fail when a gated metric got worse beyond noise (make bench-compare)")
		if len(args) == 0 {
			return errors.New("no benchmark named")
		}
		return nil
	}
	switch args[0] {
	case "launch":
		return runBenchLaunch(ctx, args[1:])
	case "offers":
		return runBenchOffers(ctx, args[1:])
	case "compare":
		return runBenchCompare(args[1:])
	default:
		return fmt.Errorf("unknown benchmark %q (known: launch, offers, compare)", args[0])
	}
}

func runBenchLaunch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench launch", flag.ContinueOnError)
	agents := fs.Int("agents", 100, "emulated agents, each a gRPC client of the master")
	frameworks := fs.Int("frameworks", 2, "frameworks (scheduler drivers) sharing the tasks")
	tasks := fs.Int("tasks", 20000, "tasks to launch in total")
	duration := fs.Duration("task-duration", 0, "how long each no-op task runs")
	agentRes := fs.String("agent-resources", bench.DefaultAgentResources.String(), "resources of every agent")
	taskRes := fs.String("task-resources", bench.DefaultTaskResources.String(), "resources of every task")
	perConn := fs.Int("agents-per-conn", 100, "agents sharing one gRPC connection")
	policy := fs.String("policy", "drf", "allocation policy: "+strings.Join(alloc.DefaultRegistry().Names(), ", "))
	allocEvery := fs.Duration("allocation-interval", time.Second, "master's full allocation period")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up when the tasks have not all ended by then")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout instead of a table")
	prof := profileFlags(fs)
	verbose := fs.Bool("v", false, "log the master's, agents' and drivers' warnings to stderr")
	if done, err := parseNoArgs(fs, args); done || err != nil {
		return err
	}
	if err := checkFlags(fs,
		positive("agents"), positive("frameworks"), positive("tasks"), nonNegative("task-duration"),
		positive("agents-per-conn"), knownPolicy("policy"), positive("allocation-interval"), positive("timeout"),
	); err != nil {
		return err
	}
	ar, err := someResources("agent-resources", *agentRes)
	if err != nil {
		return err
	}
	tr, err := someResources("task-resources", *taskRes)
	if err != nil {
		return err
	}
	cfg := bench.LaunchConfig{
		Agents: *agents, Frameworks: *frameworks, Tasks: *tasks, TaskDuration: *duration,
		AgentResources: ar, TaskResources: tr, AgentsPerConn: *perConn, Timeout: *timeout,
		Master: master.Config{Policy: *policy, AllocationInterval: *allocEvery},
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if term.IsTerminal(int(os.Stdout.Fd())) && term.IsTerminal(int(os.Stderr.Fd())) {
		bar := progressbar.NewOptions(*tasks, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("tasks"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		cfg.Progress = func(ended, _ int) { _ = bar.Set(ended) }
		defer func() { _ = bar.Finish() }()
	}
	stop, err := prof.start()
	if err != nil {
		return err
	}
	res, err := bench.RunLaunch(ctx, cfg)
	if perr := stop(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteTable(os.Stdout)
}
