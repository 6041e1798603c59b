package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/sim"
	"github.com/mezzo-cluster/mezzo/sim/runspec"
	"github.com/mezzo-cluster/mezzo/traces"
	"github.com/mezzo-cluster/mezzo/workloads/hadoop"
)

func runSim(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	trace := fs.String("trace", runspec.DefaultTrace, "workload: "+strings.Join(traceSpecs(), "; "))
	agents := fs.Int("agents", 100, "number of agents")
	policy := fs.String("policy", "drf", "allocation policy: "+strings.Join(alloc.DefaultRegistry().Names(), ", "))
	fwList := fs.String("framework", runspec.Hadoop, "comma-separated frameworks ("+strings.Join(runspec.KnownFrameworks(), ", ")+"); trace jobs are dealt round-robin to the hadoop instances")
	seed := fs.Uint64("seed", 1, "seed for block placement, policies and synthetic workloads")
	out := fs.String("out", "", "directory for jobs.csv, frameworks.csv and summary.json (none when empty)")
	asJSON := fs.Bool("json", false, "print the summary as JSON on stdout instead of a table")
	delay := fs.Duration("delay", runspec.DefaultDelay, "hadoop delay-scheduling wait at each locality level (0 turns it off)")
	jobs := fs.Int("jobs", 100, "number of jobs for synthetic workloads")
	sharing := fs.String("sharing", "fifo", "hadoop sharing between its own jobs: fifo or fair")
	check := fs.Bool("check", false, "check the allocator's invariants after every event (slow)")
	latency := fs.Duration("latency", sim.DefaultLatency, "one-way message latency")
	prof := profileFlags(fs)
	if done, err := parseNoArgs(fs, args); done || err != nil {
		return err
	}
	if err := checkFlags(fs,
		nonEmpty("trace"), positive("agents"), knownPolicy("policy"), nonEmpty("framework"),
		nonNegative("delay"), positive("jobs"), oneOf("sharing", "fifo", "fair"), nonNegative("latency"),
	); err != nil {
		return err
	}
	share, err := hadoop.ParseSharing(*sharing)
	if err != nil {
		return fmt.Errorf("--sharing: %w", err)
	}
	spec := runspec.Spec{Trace: *trace, Jobs: *jobs, Agents: *agents, Policy: *policy, Frameworks: strings.Split(*fwList, ","),
		Seed: *seed, Delay: *delay, Sharing: share, Latency: *latency, Check: *check}
	if err := spec.Validate(); err != nil {
		return err
	}
	all, err := spec.LoadJobs()
	if err != nil {
		return err
	}
	var bar *progressbar.ProgressBar
	if term.IsTerminal(int(os.Stdout.Fd())) && term.IsTerminal(int(os.Stderr.Fd())) {
		bar = progressbar.NewOptions(len(all), progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("jobs"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		spec.Progress = func(done, _ int) { _ = bar.Set(done) }
	}
	s, err := spec.Build(all)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// A replay allocates many short-lived values and keeps little: trading
	// memory for fewer collections speeds it up by a good fraction.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	stop, err := prof.start()
	if err != nil {
		return err
	}
	start := time.Now()
	res, runErr := s.Run()
	wall := time.Since(start)
	if err := stop(); err != nil {
		return err
	}
	if bar != nil {
		_ = bar.Finish()
	}
	if res == nil {
		return runErr
	}
	if *out != "" {
		if err := res.WriteDir(*out); err != nil {
			return err
		}
	}
	if *asJSON {
		if err := res.WriteSummaryJSON(os.Stdout); err != nil {
			return err
		}
	} else {
		printSummary(os.Stdout, res, wall, *out)
	}
	return runErr
}

func traceSpecs() []string {
	var out []string
	for _, s := range traces.Specs() {
		out = append(out, strings.Fields(s)[0])
	}
	return out
}

func printSummary(w io.Writer, r *sim.Result, wall time.Duration, out string) {
	s := r.Summary
	fmt.Fprintf(w, "%d agents, policy %s, seed %d: %d of %d jobs done in %.0f s virtual (%v wall, %d events, %.0f events/s)\n",
		s.Agents, s.Policy, s.Seed, s.Completed, s.Jobs, s.Virtual, wall.Round(time.Millisecond), s.Events, float64(s.Events)/wall.Seconds())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "framework\tjobs\tdone\tmean JCT s\tp95 JCT s\tlocality\tmean share\tcpu util\t")
	for _, f := range s.Frameworks {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.1f%%\t%.3f\t%.3f\t\n", f.Name, f.Jobs, f.Completed, f.MeanJCT, f.P95JCT, 100*f.Locality, f.MeanShare, f.Utilisation)
	}
	tw.Flush()
	if out != "" {
		fmt.Fprintf(w, "wrote %s/jobs.csv, frameworks.csv, summary.json\n", out)
	}
}
