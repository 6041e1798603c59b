package workloads

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/traces"
	"github.com/mezzo-cluster/mezzo/workloads/pi"
)

// Executors returns the custom executors by kind. Processes started by a
// real agent get these; an in-process host that must stay deterministic (the
// simulator) wants [InlineExecutors] instead.
func Executors() map[string]func() mezzo.Executor {
	return map[string]func() mezzo.Executor{
		pi.Kind: func() mezzo.Executor { return pi.NewExecutor() },
	}
}

// InlineExecutors returns the same executors configured to finish their
// work inside LaunchTask, so an in-process, virtual-time host sees every
// update before LaunchTask returns and no goroutine races its clock.
func InlineExecutors() map[string]func() mezzo.Executor {
	return map[string]func() mezzo.Executor{
		pi.Kind: func() mezzo.Executor { return &pi.Executor{Inline: true} },
	}
}

// Options is what the world running a framework tells it.
type Options struct {
	// Seed seeds any randomness a framework uses.
	Seed uint64
	// Agents and AgentResources describe the cluster (frameworks that cap
	// their share, such as torque, need its size).
	Agents         int
	AgentResources mezzo.Resources
	// Jobs are the trace's jobs for trace-driven frameworks; nil for the
	// others, which build their jobs from their flags.
	Jobs []traces.Job
	// ExecutorCommand says how a real agent starts the executor of a kind
	// (for example `mezzo executor pi`); nil in the simulator.
	ExecutorCommand func(kind string) *mezzo.CommandInfo
}

// ClusterResources is the total of the cluster, Agents × AgentResources.
func (o Options) ClusterResources() mezzo.Resources {
	var total mezzo.Resources
	for i := 0; i < o.Agents; i++ {
		total = total.Add(o.AgentResources)
	}
	return total
}

func (o Options) executorCommand(kind string) *mezzo.CommandInfo {
	if o.ExecutorCommand == nil {
		return nil
	}
	return o.ExecutorCommand(kind)
}

// JobRecord is one job of a framework, for the simulator's jobs.csv.
// Start and Finish are zero while the job has not started or finished.
type JobRecord struct {
	Framework, Job        string
	Submit, Start, Finish time.Time
	Tasks, LocalTasks     int
}

// Framework is a built framework, ready to register and run.
type Framework struct {
	Info      mezzo.FrameworkInfo
	Scheduler mezzo.Scheduler
	// Done reports whether the framework has no more work.
	Done func() bool
	// Jobs lists its jobs, in submit order.
	Jobs func() []JobRecord
	// Summary is one human line about the outcome ("Pi is roughly ...").
	Summary func() string
}

// SchedulerFactory builds a framework from the world's options and the
// framework's own flags (`mezzo run NAME [flags]`; nil means defaults).
type SchedulerFactory struct {
	Summary string
	New     func(opts Options, args []string) (*Framework, error)
}

// Schedulers returns the frameworks by name.
func Schedulers() map[string]SchedulerFactory {
	return map[string]SchedulerFactory{
		"pi": {Summary: "estimate π with N sampling tasks (the article's Figure 2)", New: newPi},
		// hadoop: registered here once workloads/hadoop lands (another
		// engineer's package; delay scheduling over traces.Job).
	}
}

// flagSet makes a flag set whose errors name the framework and are returned,
// not printed.
func flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("framework %s: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("framework %s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func taskResources(cpus, memMB float64) (mezzo.Resources, error) {
	return mezzo.NewResources(map[string]float64{mezzo.CPUs: cpus, mezzo.Mem: memMB})
}

func newPi(opts Options, args []string) (*Framework, error) {
	fs := flagSet("pi")
	tasks := fs.Int("tasks", 10, "number of sampling tasks")
	samples := fs.Int64("samples", 100_000, "samples per task")
	cpus := fs.Float64("task-cpus", 1, "cpus per task")
	mem := fs.Float64("task-mem", 32, "memory per task, MB")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	res, err := taskResources(*cpus, *mem)
	if err != nil {
		return nil, fmt.Errorf("framework pi: %w", err)
	}
	s, err := pi.New(pi.Config{Tasks: *tasks, Samples: *samples, TaskResources: res, ExecutorCommand: opts.executorCommand(pi.Kind)})
	if err != nil {
		return nil, err
	}
	return &Framework{
		Info:      mezzo.FrameworkInfo{Name: "pi"},
		Scheduler: s,
		Done:      s.Done,
		Jobs: func() []JobRecord {
			r := s.Result()
			return []JobRecord{{Framework: "pi", Job: "pi", Submit: r.Submit, Start: r.Start, Finish: r.Finish, Tasks: r.Launched}}
		},
		Summary: func() string {
			r := s.Result()
			return fmt.Sprintf("Pi is roughly %.6f (%d of %d tasks answered)", r.Estimate, r.Finished, r.Tasks)
		},
	}, nil
}
