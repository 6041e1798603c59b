package sweep

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/mezzo-cluster/mezzo/sim"
	"github.com/mezzo-cluster/mezzo/sim/runspec"
	"github.com/mezzo-cluster/mezzo/traces"
)

// Config is a sweep: the axes to cross, what every run shares, and where
// the rows go.
type Config struct {
	Axes Axes
	// Base holds what every run shares: Frameworks (nil: one hadoop),
	// Latency and Check. Its axis fields (Trace, Jobs, Policy, Agents,
	// Delay, Sharing, Seed) and Progress are ignored.
	Base runspec.Spec
	// Out is the CSV file, created or resumed.
	Out string
	// Workers is how many runs go at once; 0 means runtime.NumCPU().
	Workers int
	// Progress, when set, is called from one goroutine with the number of
	// runs of the plan done (including those found in Out) and the total:
	// once at the start and after each run.
	Progress func(done, total int)
	// Started, when set, is called as a run starts, on the worker's
	// goroutine (tests count runs with it).
	Started func(Point)
}

// Stats say what a sweep did.
type Stats struct {
	// Planned runs in the cross product; Skipped already in Out; Ran by
	// this call; Cut and Failed those of Ran with that status.
	Planned, Skipped, Ran, Cut, Failed int
	// Discarded is the size in bytes of a torn last line dropped from Out.
	Discarded int
	// Sorted says Out was rewritten in plan order (every run done).
	Sorted bool
}

// Validate checks every axis value and the shared settings, and opens
// every trace, without running anything. Run calls it first.
func (c Config) Validate() error {
	_, err := c.prepare()
	return err
}

// plan is a validated sweep.
type plan struct {
	points     []Point
	frameworks []string // instance names, for the header
	// loaded holds the jobs of non-synthetic traces, read once: they do
	// not depend on the seed. Read-only once built.
	loaded map[string][]traces.Job
}

func (c Config) prepare() (*plan, error) {
	if c.Out == "" {
		return nil, errors.New("sweep: no output file")
	}
	if c.Workers < 0 {
		return nil, fmt.Errorf("sweep: workers %d: must not be negative", c.Workers)
	}
	if err := c.Axes.checkShape(); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var errs []error
	seen := map[string]bool{}
	var add func(err error)
	add = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				add(e)
			}
			return
		}
		if err != nil && !seen[err.Error()] {
			seen[err.Error()] = true
			errs = append(errs, err)
		}
	}
	// Every value is checked through runspec.Spec.Validate; the problems
	// of all specs, each named once, make one error.
	a := c.Axes
	first := Point{Policy: a.Policies[0], Agents: a.Agents[0], Delay: a.Delays[0], Jobs: 1}
	for _, pol := range a.Policies {
		pt := first
		pt.Policy = pol
		add(c.spec(pt).Validate())
	}
	for _, ag := range a.Agents {
		pt := first
		pt.Agents = ag
		add(c.spec(pt).Validate())
	}
	for _, d := range a.Delays {
		pt := first
		pt.Delay = d
		add(c.spec(pt).Validate())
	}
	for _, j := range a.Jobs {
		if j < 1 {
			add(fmt.Errorf("jobs %d: need at least 1", j))
		}
	}
	p := &plan{loaded: map[string][]traces.Job{}}
	for _, tr := range c.Axes.Traces {
		s := c.spec(Point{Trace: tr, Jobs: 1, Seed: c.Axes.Seeds[0]})
		if s.Synthetic() {
			// Generating one job checks the spec; runs make their own.
			_, err := s.LoadJobs()
			add(err)
			continue
		}
		jobs, err := s.LoadJobs()
		if err == nil && len(jobs) == 0 {
			err = fmt.Errorf("trace %s has no jobs", tr)
		}
		add(err)
		p.loaded[tr] = jobs
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sweep: %w", errors.Join(errs...))
	}
	p.points = c.Axes.Expand()
	kinds := c.Base.Frameworks
	if len(kinds) == 0 {
		kinds = []string{runspec.Hadoop}
	}
	p.frameworks = runspec.InstanceNames(kinds)
	return p, nil
}

func (c Config) spec(p Point) runspec.Spec {
	s := c.Base
	s.Trace, s.Jobs, s.Policy, s.Agents, s.Delay, s.Sharing, s.Seed = p.Trace, p.Jobs, p.Policy, p.Agents, p.Delay, p.Sharing, p.Seed
	s.Progress = nil
	return s
}

// outcome is one finished run.
type outcome struct {
	p      Point
	line   []byte
	status string
	panic  error
}

// Run runs every point of the cross product not already in Out, Workers
// at a time, and appends one CSV line per run as it finishes (so the file
// is in completion order while the sweep goes on). When every run of the
// plan is in the file, the file is rewritten in plan order, so a finished
// sweep's file is the same bytes whatever the worker count or how often
// it was interrupted.
//
// Cancelling ctx stops starting runs; the runs in flight finish and are
// written (a simulation cannot be stopped half way), and Run returns
// ctx.Err(). Rerunning the same sweep then does only the rest.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	p, err := cfg.prepare()
	if err != nil {
		return Stats{}, err
	}
	out, err := openOutput(cfg.Out, Header(p.frameworks))
	if err != nil {
		return Stats{}, err
	}
	defer out.close()
	st := Stats{Planned: len(p.points), Discarded: out.discarded}
	var todo []Point
	for _, pt := range p.points {
		if _, done := out.rows[keyOf(pt.Key())]; done {
			st.Skipped++
		} else {
			todo = append(todo, pt)
		}
	}
	progress := func() {
		if cfg.Progress != nil {
			cfg.Progress(st.Skipped+st.Ran, st.Planned)
		}
	}
	progress()

	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	workers = min(workers, len(todo))
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	feed := make(chan Point)
	results := make(chan outcome)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pt := range feed {
				// The feeder's select may hand out a run as ctx ends.
				if runCtx.Err() != nil {
					continue
				}
				results <- cfg.runOne(p, pt)
			}
		}()
	}
	go func() {
		defer close(feed)
		for _, pt := range todo {
			select {
			case feed <- pt:
			case <-runCtx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	var fatal error
	for o := range results {
		if fatal != nil {
			continue // drain the runs in flight
		}
		if o.panic != nil {
			fatal = o.panic
			stop()
			continue
		}
		if err := out.add(keyOf(o.p.Key()), o.line); err != nil {
			fatal = err
			stop()
			continue
		}
		st.Ran++
		switch o.status {
		case StatusCut:
			st.Cut++
		case StatusFailed:
			st.Failed++
		}
		progress()
	}
	if fatal != nil {
		return st, fatal
	}
	if err := ctx.Err(); err != nil && st.Skipped+st.Ran < st.Planned {
		return st, err
	}
	if err := out.close(); err != nil {
		return st, err
	}
	if err := out.rewriteSorted(p.points); err != nil {
		return st, err
	}
	st.Sorted = true
	return st, nil
}

// runOne builds and runs one point on the calling goroutine. A run that
// cannot be built or is cut short is a row saying so; a panic is a bug
// and stops the sweep without writing a row, so the run is redone once
// fixed.
func (cfg Config) runOne(p *plan, pt Point) (o outcome) {
	o.p = pt
	defer func() {
		if r := recover(); r != nil {
			o.panic = fmt.Errorf("sweep: run %s panicked: %v", pt, r)
		}
	}()
	if cfg.Started != nil {
		cfg.Started(pt)
	}
	spec := cfg.spec(pt)
	var res *sim.Result
	var err error
	jobs, ok := p.loaded[pt.Trace]
	if !ok {
		jobs, err = spec.LoadJobs()
	}
	var s *sim.Simulation
	if err == nil {
		s, err = spec.Build(jobs)
	}
	if err == nil {
		res, err = s.Run()
	}
	rec := record(pt, p.frameworks, res, err)
	o.status = rec[len(KeyColumns)]
	o.line = line(rec)
	return o
}

// Describe is a one-line account of a sweep's stats, for a command's
// output.
func (s Stats) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d runs: %d already done, %d run", s.Planned, s.Skipped, s.Ran)
	if s.Cut > 0 || s.Failed > 0 {
		fmt.Fprintf(&b, " (%d cut short, %d failed)", s.Cut, s.Failed)
	}
	if s.Discarded > 0 {
		fmt.Fprintf(&b, "; dropped a torn last line (%d bytes)", s.Discarded)
	}
	return b.String()
}
