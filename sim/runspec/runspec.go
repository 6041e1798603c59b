package runspec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/sim"
	"github.com/mezzo-cluster/mezzo/traces"
	"github.com/mezzo-cluster/mezzo/workloads"
	"github.com/mezzo-cluster/mezzo/workloads/hadoop"
)

// DefaultDelay is hadoop's delay-scheduling wait at each locality level in
// the Mesos paper's experiments (and hadoop.DefaultConfig's).
const DefaultDelay = 5 * time.Second

// DefaultTrace is the workload when a Spec names none.
const DefaultTrace = "synthetic:fb"

// Hadoop is the framework kind built here rather than from
// workloads.Schedulers(): it needs the simulation's DFS for its input.
const Hadoop = "hadoop"

// Spec is one run as data. Fields are taken literally except where a zero
// value is documented as a default.
type Spec struct {
	// Trace is a traces.Open spec; "" means DefaultTrace.
	Trace string
	// Jobs is the number of jobs of a synthetic trace (0: the generator's
	// default); other traces ignore it.
	Jobs int
	// Agents is the cluster size, at least 1.
	Agents int
	// Policy names a policy in alloc.DefaultRegistry().
	Policy string
	// Frameworks are the kinds to run, in registration order; nil means
	// one hadoop.
	Frameworks []string
	// Seed seeds block placement, the policy, synthetic traces and the
	// frameworks.
	Seed uint64
	// Delay is hadoop's wait at each locality level; 0 turns delay
	// scheduling off (DefaultDelay is the paper's setting).
	Delay time.Duration
	// Sharing orders each hadoop instance's own jobs (zero: FIFO).
	Sharing hadoop.Sharing
	// Latency is the one-way message latency; 0 means sim.DefaultLatency.
	Latency time.Duration
	// Check runs the allocator's invariant checks after every event (slow).
	Check bool
	// Progress, when set, is passed to sim.Config.Progress.
	Progress func(finished, total int)
}

// KnownFrameworks lists the framework kinds a Spec may name, sorted.
func KnownFrameworks() []string {
	out := []string{Hadoop}
	for n := range workloads.Schedulers() {
		if n != Hadoop {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (s Spec) trace() string {
	if s.Trace == "" {
		return DefaultTrace
	}
	return s.Trace
}

func (s Spec) frameworks() []string {
	if len(s.Frameworks) == 0 {
		return []string{Hadoop}
	}
	return s.Frameworks
}

// Validate checks everything that can be checked without reading the
// trace: the policy, the frameworks, the cluster size, the job count and
// the delay. Each problem is named in the error.
func (s Spec) Validate() error {
	var errs []error
	reg := alloc.DefaultRegistry()
	if !contains(reg.Names(), s.Policy) {
		errs = append(errs, fmt.Errorf("unknown policy %q (known: %s)", s.Policy, strings.Join(reg.Names(), ", ")))
	}
	known := KnownFrameworks()
	for _, f := range s.frameworks() {
		if !contains(known, f) {
			errs = append(errs, fmt.Errorf("unknown framework %q (known: %s)", f, strings.Join(known, ", ")))
		}
	}
	if s.Agents < 1 {
		errs = append(errs, fmt.Errorf("agents %d: need at least 1", s.Agents))
	}
	if s.Jobs < 0 {
		errs = append(errs, fmt.Errorf("jobs %d: must not be negative", s.Jobs))
	}
	if s.Delay < 0 {
		errs = append(errs, fmt.Errorf("delay %v: must not be negative", s.Delay))
	}
	return errors.Join(errs...)
}

// Synthetic reports whether the trace is generated from the seed (and so
// differs between seeds) rather than read from data.
func (s Spec) Synthetic() bool { return strings.HasPrefix(s.trace(), "synthetic:") }

// LoadJobs reads the whole trace. For a synthetic trace the jobs depend on
// Seed and Jobs; for any other only on Trace, so callers running many specs
// over one file may load it once and pass the jobs to Build.
func (s Spec) LoadJobs() ([]traces.Job, error) {
	src, closer, err := traces.Open(s.trace(), traces.Options{Synthetic: traces.SyntheticOptions{Jobs: s.Jobs, Seed: s.Seed}})
	if err != nil {
		return nil, err
	}
	jobs, err := traces.ReadAll(src)
	if cerr := closer.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("traces: %s: %w", s.trace(), cerr)
	}
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

// New reads the trace and builds the simulation.
func (s Spec) New() (*sim.Simulation, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	jobs, err := s.LoadJobs()
	if err != nil {
		return nil, err
	}
	return s.Build(jobs)
}

// Build builds the simulation over the given trace jobs (which it does not
// modify, so one slice may serve concurrent builds): the cluster and policy,
// then each framework in order, the jobs dealt across the hadoop instances.
func (s Spec) Build(jobs []traces.Job) (*sim.Simulation, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	kinds := s.frameworks()
	cfg := sim.Config{Agents: s.Agents, Policy: s.Policy, Seed: s.Seed, Progress: s.Progress,
		World: sim.WorldConfig{Check: s.Check, Latency: s.Latency}}
	for _, k := range kinds {
		if k != Hadoop {
			// Custom executors (pi's) must finish inside LaunchTask to
			// keep virtual time deterministic. Only set when needed: the
			// world has a faster path without any.
			cfg.World.Executors = sim.ExecutorRegistry(workloads.InlineExecutors())
			break
		}
	}
	sm, err := sim.New(cfg)
	if err != nil {
		return nil, err
	}
	names := InstanceNames(kinds)
	dealt := Deal(kinds, jobs)
	for i, kind := range kinds {
		spec, err := s.framework(sm, names[i], kind, dealt[i])
		if err != nil {
			return nil, fmt.Errorf("framework %s: %w", names[i], err)
		}
		if err := sm.AddFramework(spec); err != nil {
			return nil, err
		}
	}
	return sm, nil
}

func (s Spec) framework(sm *sim.Simulation, name, kind string, jobs []traces.Job) (sim.FrameworkSpec, error) {
	if kind == Hadoop {
		cfg := hadoop.DefaultConfig()
		cfg.Name, cfg.NodeDelay, cfg.RackDelay, cfg.Sharing = name, s.Delay, s.Delay, s.Sharing
		fw, err := hadoop.New(cfg, sm.Storage(name))
		if err != nil {
			return sim.FrameworkSpec{}, err
		}
		return sim.FrameworkSpec{Name: name, Scheduler: fw, Jobs: jobs, Submit: fw.Submit, Done: fw.Done}, nil
	}
	res := sm.Cluster().Agents()[0].Resources
	f, err := workloads.Schedulers()[kind].New(workloads.Options{Seed: s.Seed, Agents: s.Agents, AgentResources: res}, nil)
	if err != nil {
		return sim.FrameworkSpec{}, err
	}
	spec := sim.FrameworkSpec{Name: name, Info: f.Info, Scheduler: f.Scheduler}
	// As in `mezzo sim`: frameworks without trace jobs run alongside
	// (the run does not wait for them), except pi, which finishes on its
	// own and is the point of a run that names it.
	if kind == "pi" {
		spec.Done = f.Done
	}
	return spec, nil
}

// InstanceNames names framework instances by kind: the first of a kind
// keeps the kind's name, the next are "KIND-2", "KIND-3", ...
func InstanceNames(kinds []string) []string {
	seen := map[string]int{}
	out := make([]string, len(kinds))
	for i, k := range kinds {
		seen[k]++
		out[i] = k
		if seen[k] > 1 {
			out[i] = fmt.Sprintf("%s-%d", k, seen[k])
		}
	}
	return out
}

// Deal gives the trace jobs to the hadoop instances among kinds,
// round-robin in submit order (job i to the (i mod n)-th hadoop); the
// result has one entry per kind, nil for the others.
func Deal(kinds []string, jobs []traces.Job) [][]traces.Job {
	var driven []int
	for i, k := range kinds {
		if k == Hadoop {
			driven = append(driven, i)
		}
	}
	out := make([][]traces.Job, len(kinds))
	if len(driven) == 0 {
		return out
	}
	for i, share := range sim.SplitJobs(jobs, len(driven)) {
		out[driven[i]] = share
	}
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
