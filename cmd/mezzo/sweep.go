package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/sim/runspec"
	"github.com/mezzo-cluster/mezzo/sim/sweep"
	"github.com/mezzo-cluster/mezzo/traces"
)

func runSweep(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: mezzo sweep --out FILE.csv [axes]\n\nRuns the cross product of the axes on all cores, one CSV row per run;\nrerun the same command to resume after an interruption.\nLists are comma-separated; A..B is every integer from A to B.")
		fs.PrintDefaults()
	}
	var specs []string
	for _, s := range traces.Specs() {
		specs = append(specs, strings.Fields(s)[0])
	}
	policy := fs.String("policy", "drf", "policies (axis): "+strings.Join(alloc.DefaultRegistry().Names(), ", "))
	agents := fs.String("agents", "100", "cluster sizes (axis), e.g. 100,600 or 100..110")
	seed := fs.String("seed", "1", "seeds (axis), e.g. 1..10 or 1,5,9")
	trace := fs.String("trace", runspec.DefaultTrace, "traces (axis): "+strings.Join(specs, "; "))
	jobs := fs.String("jobs", "100", "jobs of synthetic traces (axis)")
	delay := fs.String("delay", runspec.DefaultDelay.String(), "hadoop delay-scheduling waits (axis), e.g. 0s,5s")
	sharing := fs.String("sharing", "fifo", "hadoop sharing between its own jobs (axis): fifo, fair")
	fwList := fs.String("framework", runspec.Hadoop, "frameworks in every run (not an axis); trace jobs are dealt round-robin to the hadoop instances: "+strings.Join(runspec.KnownFrameworks(), ", "))
	out := fs.String("out", "", "CSV file to write, or to resume (required)")
	workers := fs.Int("workers", runtime.NumCPU(), "runs at once")
	if done, err := parseNoArgs(fs, args); done || err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out FILE.csv is required")
	}
	if err := checkFlags(fs, positive("workers")); err != nil {
		return err
	}
	cfg := sweep.Config{Out: *out, Workers: *workers}
	var errs []error
	var err error
	if cfg.Axes.Policies, err = sweep.ParseList("policy", *policy); err != nil {
		errs = append(errs, err)
	}
	if cfg.Axes.Agents, err = sweep.ParseInts("agents", *agents); err != nil {
		errs = append(errs, err)
	}
	if cfg.Axes.Seeds, err = sweep.ParseSeeds("seed", *seed); err != nil {
		errs = append(errs, err)
	}
	if cfg.Axes.Traces, err = sweep.ParseList("trace", *trace); err != nil {
		errs = append(errs, err)
	}
	if cfg.Axes.Jobs, err = sweep.ParseInts("jobs", *jobs); err != nil {
		errs = append(errs, err)
	}
	if cfg.Axes.Delays, err = sweep.ParseDurations("delay", *delay); err != nil {
		errs = append(errs, err)
	}
	if cfg.Axes.Sharings, err = sweep.ParseSharings("sharing", *sharing); err != nil {
		errs = append(errs, err)
	}
	if cfg.Base.Frameworks, err = sweep.ParseList("framework", *fwList); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	var bar *progressbar.ProgressBar
	if term.IsTerminal(int(os.Stdout.Fd())) && term.IsTerminal(int(os.Stderr.Fd())) {
		cfg.Progress = func(done, total int) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("runs"),
					progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
			}
			_ = bar.Set(done)
		}
	}
	// The first interrupt lets the runs in flight finish and be written;
	// a second one restores the default action and ends the process (those
	// runs are then redone on resume).
	sweepDone := make(chan struct{})
	defer close(sweepDone)
	go func() {
		select {
		case <-ctx.Done():
			fmt.Fprintln(os.Stderr, "\nmezzo sweep: interrupted; finishing the runs in flight (interrupt again to quit now, rerun to resume)")
			signal.Reset(os.Interrupt, syscall.SIGTERM)
		case <-sweepDone:
		}
	}()
	// Simulations allocate many short-lived values and keep little.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	start := time.Now()
	st, err := sweep.Run(ctx, cfg)
	if bar != nil {
		_ = bar.Finish()
	}
	if st.Planned > 0 {
		state := "complete"
		if !st.Sorted {
			state = "incomplete"
		}
		fmt.Printf("%s in %v with %d workers; %s %s\n", st.Describe(), time.Since(start).Round(time.Millisecond), *workers, state, *out)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted with %d of %d runs in %s; rerun the same command to resume", st.Skipped+st.Ran, st.Planned, *out)
	}
	return err
}
