package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/sim"
	"github.com/mezzo-cluster/mezzo/traces"
	"github.com/mezzo-cluster/mezzo/workloads"
	"github.com/mezzo-cluster/mezzo/workloads/hadoop"
)

// simFrameworks are the frameworks `mezzo sim` builds itself: hadoop needs
// the simulation's DFS, which the generic registry cannot give it.
var simFrameworks = []string{"hadoop"}

func runSim(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	trace := fs.String("trace", "synthetic:fb", "workload: "+strings.Join(traceSpecs(), "; "))
	agents := fs.Int("agents", 100, "number of agents")
	policy := fs.String("policy", "drf", "allocation policy: "+strings.Join(alloc.DefaultRegistry().Names(), ", "))
	fwList := fs.String("framework", "hadoop", "comma-separated frameworks; trace jobs are dealt round-robin to the trace-driven ones")
	seed := fs.Uint64("seed", 1, "seed for block placement, policies and synthetic workloads")
	out := fs.String("out", "", "directory for jobs.csv, frameworks.csv and summary.json (none when empty)")
	asJSON := fs.Bool("json", false, "print the summary as JSON on stdout instead of a table")
	delay := fs.Duration("delay", 5*time.Second, "hadoop delay-scheduling wait at each locality level (0 turns it off)")
	jobs := fs.Int("jobs", 100, "number of jobs for synthetic workloads")
	sharing := fs.String("sharing", "fifo", "hadoop sharing between its own jobs: fifo or fair")
	check := fs.Bool("check", false, "check the allocator's invariants after every event (slow)")
	latency := fs.Duration("latency", sim.DefaultLatency, "one-way message latency")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	share, err := hadoop.ParseSharing(*sharing)
	if err != nil {
		return err
	}
	names := strings.Split(*fwList, ",")
	registry := workloads.Schedulers()
	for _, n := range names {
		if _, ok := registry[n]; !ok && !contains(simFrameworks, n) {
			return fmt.Errorf("unknown framework %q (known: %s)", n, strings.Join(knownFrameworks(registry), ", "))
		}
	}

	src, closer, err := traces.Open(*trace, traces.Options{Synthetic: traces.SyntheticOptions{Jobs: *jobs, Seed: *seed}})
	if err != nil {
		return err
	}
	all, err := traces.ReadAll(src)
	closer.Close()
	if err != nil {
		return err
	}

	interactive := term.IsTerminal(int(os.Stdout.Fd())) && term.IsTerminal(int(os.Stderr.Fd()))
	var bar *progressbar.ProgressBar
	cfg := sim.Config{Agents: *agents, Policy: *policy, Seed: *seed, World: sim.WorldConfig{Check: *check, Latency: *latency}}
	if interactive {
		bar = progressbar.NewOptions(len(all), progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("jobs"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		cfg.Progress = func(done, _ int) { _ = bar.Set(done) }
	}
	s, err := sim.New(cfg)
	if err != nil {
		return err
	}
	// Trace jobs go to the trace-driven frameworks (hadoop, and registry
	// frameworks that take Jobs); others run alongside.
	var driven []string
	for _, n := range names {
		if n == "hadoop" || n == "spark" {
			driven = append(driven, n)
		}
	}
	var shares [][]traces.Job
	if len(driven) > 0 {
		shares = sim.SplitJobs(all, len(driven))
	}
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
		name := n
		if seen[n] > 1 {
			name = fmt.Sprintf("%s-%d", n, seen[n])
		}
		var jobs []traces.Job
		for i, d := range driven {
			if d == n && shares != nil {
				jobs, shares[i] = shares[i], nil
				break
			}
		}
		spec, err := buildSimFramework(s, name, n, jobs, *delay, share, *seed, *agents)
		if err != nil {
			return err
		}
		if err := s.AddFramework(spec); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// A replay allocates many short-lived values and keeps little: trading
	// memory for fewer collections speeds it up by a good fraction.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	start := time.Now()
	res, runErr := s.Run()
	wall := time.Since(start)
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

func buildSimFramework(s *sim.Simulation, name, kind string, jobs []traces.Job, delay time.Duration, share hadoop.Sharing, seed uint64, agents int) (sim.FrameworkSpec, error) {
	if kind == "hadoop" {
		cfg := hadoop.DefaultConfig()
		cfg.Name, cfg.NodeDelay, cfg.RackDelay, cfg.Sharing = name, delay, delay, share
		fw, err := hadoop.New(cfg, s.Storage(name))
		if err != nil {
			return sim.FrameworkSpec{}, err
		}
		return sim.FrameworkSpec{Name: name, Scheduler: fw, Jobs: jobs, Submit: fw.Submit, Done: fw.Done}, nil
	}
	res := s.Cluster().Agents()[0].Resources
	f, err := workloads.Schedulers()[kind].New(workloads.Options{Seed: seed, Agents: agents, AgentResources: res, Jobs: jobs}, nil)
	if err != nil {
		return sim.FrameworkSpec{}, err
	}
	spec := sim.FrameworkSpec{Name: name, Info: f.Info, Scheduler: f.Scheduler, Jobs: jobs}
	// A framework that takes no trace jobs runs alongside unless it
	// finishes on its own (pi does).
	if len(jobs) > 0 || kind == "pi" {
		spec.Done = f.Done
	}
	return spec, nil
}

func knownFrameworks(reg map[string]workloads.SchedulerFactory) []string {
	out := append([]string(nil), simFrameworks...)
	for n := range reg {
		if !contains(out, n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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
