package workloads

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/traces"
	"github.com/mezzo-cluster/mezzo/workloads/hadoop"
	"github.com/mezzo-cluster/mezzo/workloads/mpi"
	"github.com/mezzo-cluster/mezzo/workloads/pi"
	"github.com/mezzo-cluster/mezzo/workloads/service"
	"github.com/mezzo-cluster/mezzo/workloads/spark"
	"github.com/mezzo-cluster/mezzo/workloads/torque"
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
	// Storage says where trace jobs' input blocks live (the simulator's
	// DFS: sim.Simulation.Storage); nil when jobs read no input.
	Storage Storage
}

// Storage locates job input, as hadoop.Storage: the blocks a job's maps
// read, one per map in order, and the agents holding each block.
type Storage interface {
	Blocks(job string) []string
	Locations(block string) []mezzo.AgentID
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
	// Files are the input files the framework's tasks read (TaskInfo.Input
	// names their blocks, "NAME/NNNN"); the simulator creates them in its
	// file system before the run. Nil when the framework reads none.
	Files []File
}

// File is an input file a framework reads.
type File struct {
	Name  string
	Bytes int64
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
		"pi":      {Summary: "estimate π with N sampling tasks (the article's Figure 2)", New: newPi},
		"mpi":     {Summary: "rigid all-or-nothing jobs that gather every node before starting", New: newMPI},
		"torque":  {Summary: "batch queue of rigid jobs, strict FIFO, capped at a quarter of the cluster", New: newTorque},
		"service": {Summary: "long-running instances following a load curve", New: newService},
		"spark":   {Summary: "iterative jobs over cached partitions (logistic regression)", New: newSpark},
		"hadoop":  {Summary: "MapReduce jobs from the trace with delay scheduling", New: newHadoop},
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

// gangFlags are the flags mpi and torque share.
type gangFlags struct {
	jobs, tasks, perAgent int
	cpus, mem, share      float64
	duration, every, hold time.Duration
	retry                 time.Duration
}

func addGangFlags(fs *flag.FlagSet, share float64) *gangFlags {
	g := &gangFlags{}
	fs.IntVar(&g.jobs, "jobs", 4, "number of jobs")
	fs.IntVar(&g.tasks, "tasks", 4, "tasks per job, all needed at once")
	fs.IntVar(&g.perAgent, "per-agent", 1, "most tasks of a job on one agent (0: as many as fit)")
	fs.Float64Var(&g.cpus, "task-cpus", 1, "cpus per task")
	fs.Float64Var(&g.mem, "task-mem", 1024, "memory per task, MB")
	fs.Float64Var(&g.share, "cap", share, "largest share of the cluster held or used")
	fs.DurationVar(&g.duration, "duration", time.Minute, "running time of each job")
	fs.DurationVar(&g.every, "every", 30*time.Second, "time between job arrivals")
	fs.DurationVar(&g.hold, "hold", 30*time.Second, "how long a partial gang holds offers")
	fs.DurationVar(&g.retry, "retry", 10*time.Second, "how long released agents are refused")
	return g
}

func (g *gangFlags) jobList(name string) ([]mpi.Job, error) {
	res, err := taskResources(g.cpus, g.mem)
	if err != nil {
		return nil, fmt.Errorf("framework %s: %w", name, err)
	}
	jobs := make([]mpi.Job, g.jobs)
	for i := range jobs {
		jobs[i] = mpi.Job{ID: fmt.Sprintf("j%d", i), Submit: time.Duration(i) * g.every, Tasks: g.tasks, TaskResources: res, Duration: g.duration}
	}
	return jobs, nil
}

func gangFramework(name string, s *mpi.Scheduler) *Framework {
	return &Framework{
		Info:      mezzo.FrameworkInfo{Name: name},
		Scheduler: s,
		Done:      s.Done,
		Jobs: func() []JobRecord {
			var out []JobRecord
			for _, j := range s.Jobs() {
				out = append(out, JobRecord{Framework: name, Job: j.ID, Submit: j.Submit, Start: j.Start, Finish: j.Finish, Tasks: j.Tasks * j.Attempts})
			}
			return out
		},
		Summary: func() string {
			done, releases := 0, 0
			for _, j := range s.Jobs() {
				if !j.Finish.IsZero() {
					done++
				}
				releases += j.Releases
			}
			return fmt.Sprintf("%s: %d of %d jobs done, %d partial gangs released", name, done, len(s.Jobs()), releases)
		},
	}
}

func newMPI(opts Options, args []string) (*Framework, error) {
	fs := flagSet("mpi")
	g := addGangFlags(fs, 1)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	jobs, err := g.jobList("mpi")
	if err != nil {
		return nil, err
	}
	s, err := mpi.New(mpi.Config{Jobs: jobs, Cluster: opts.ClusterResources(), Cap: g.share,
		HoldTimeout: g.hold, RetryAfter: g.retry, MaxTasksPerAgent: g.perAgent})
	if err != nil {
		return nil, err
	}
	return gangFramework("mpi", s), nil
}

func newTorque(opts Options, args []string) (*Framework, error) {
	fs := flagSet("torque")
	g := addGangFlags(fs, torque.DefaultCap)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	jobs, err := g.jobList("torque")
	if err != nil {
		return nil, err
	}
	s, err := torque.New(torque.Config{Jobs: jobs, Cluster: opts.ClusterResources(), Cap: g.share,
		HoldTimeout: g.hold, RetryAfter: g.retry, MaxTasksPerAgent: g.perAgent})
	if err != nil {
		return nil, err
	}
	return gangFramework("torque", s), nil
}

// parseLoad reads a load curve "AT:N,AT:N,..." such as "0s:2,1m:5,2m:0".
func parseLoad(text string) ([]service.Step, error) {
	var steps []service.Step
	for i, part := range strings.Split(text, ",") {
		at, n, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("load step %d %q is not AT:INSTANCES", i+1, part)
		}
		d, err := time.ParseDuration(at)
		if err != nil {
			return nil, fmt.Errorf("load step %d %q: time %q is not a duration like 90s", i+1, part, at)
		}
		k, err := strconv.Atoi(n)
		if err != nil {
			return nil, fmt.Errorf("load step %d %q: %q is not a whole number of instances", i+1, part, n)
		}
		steps = append(steps, service.Step{At: d, Instances: k})
	}
	return steps, nil
}

func newService(opts Options, args []string) (*Framework, error) {
	fs := flagSet("service")
	load := fs.String("load", "0s:2,1m:6,3m:3,5m:0", "load curve AT:INSTANCES,... (times after registration)")
	cpus := fs.Float64("task-cpus", 0.5, "cpus per instance")
	mem := fs.Float64("task-mem", 256, "memory per instance, MB")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	steps, err := parseLoad(*load)
	if err != nil {
		return nil, fmt.Errorf("framework service: -load: %w", err)
	}
	res, err := taskResources(*cpus, *mem)
	if err != nil {
		return nil, fmt.Errorf("framework service: %w", err)
	}
	s, err := service.New(service.Config{Load: steps, TaskResources: res})
	if err != nil {
		return nil, err
	}
	return &Framework{
		Info:      mezzo.FrameworkInfo{Name: "service"},
		Scheduler: s,
		Done:      s.Done,
		Jobs: func() []JobRecord {
			pts := s.Points()
			if len(pts) == 0 {
				return nil
			}
			submit := pts[0].At
			r := JobRecord{Framework: "service", Job: "service", Submit: submit, Start: submit, Tasks: pts[len(pts)-1].Launched}
			if s.Done() {
				r.Finish = pts[len(pts)-1].At
			}
			return []JobRecord{r}
		},
		Summary: func() string {
			return fmt.Sprintf("service: %d of %d instances running, %d restarts", s.Running(), s.Desired(), s.Restarts())
		},
	}, nil
}

func newSpark(opts Options, args []string) (*Framework, error) {
	fs := flagSet("spark")
	jobs := fs.Int("jobs", 1, "number of jobs")
	iterations := fs.Int("iterations", 10, "iterations per job")
	partitions := fs.Int("partitions", 40, "partitions (64 MB input blocks) per job")
	first := fs.Duration("first", 30*time.Second, "task time reading a block from the file system")
	later := fs.Duration("later", time.Second, "task time over a cached partition")
	every := fs.Duration("every", time.Minute, "time between job arrivals")
	wait := fs.Duration("locality-wait", 3*time.Second, "how long to wait for a caching agent")
	cpus := fs.Float64("task-cpus", 1, "cpus per task")
	mem := fs.Float64("task-mem", 1024, "memory per task, MB")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	res, err := taskResources(*cpus, *mem)
	if err != nil {
		return nil, fmt.Errorf("framework spark: %w", err)
	}
	if *partitions <= 0 || *partitions > 9999 {
		return nil, fmt.Errorf("framework spark: -partitions %d is not in 1..9999", *partitions)
	}
	var js []spark.Job
	var files []File
	for i := 0; i < *jobs; i++ {
		name := fmt.Sprintf("spark-j%d", i)
		blocks := make([]string, *partitions)
		for b := range blocks {
			blocks[b] = fmt.Sprintf("%s/%04d", name, b) // the DFS's block naming
		}
		files = append(files, File{Name: name, Bytes: int64(*partitions) << 26})
		js = append(js, spark.Job{ID: fmt.Sprintf("j%d", i), Submit: time.Duration(i) * *every, Iterations: *iterations,
			Blocks: blocks, FirstDuration: *first, IterDuration: *later})
	}
	s, err := spark.New(spark.Config{Jobs: js, TaskResources: res, LocalityWait: *wait})
	if err != nil {
		return nil, err
	}
	return &Framework{
		Info:      mezzo.FrameworkInfo{Name: "spark"},
		Scheduler: s,
		Done:      s.Done,
		Files:     files,
		Jobs: func() []JobRecord {
			var out []JobRecord
			for _, j := range s.Jobs() {
				out = append(out, JobRecord{Framework: "spark", Job: j.ID, Submit: j.Submit, Start: j.Start, Finish: j.Finish, Tasks: j.Tasks, LocalTasks: j.LocalTasks})
			}
			return out
		},
		Summary: func() string {
			done := 0
			for _, j := range s.Jobs() {
				if !j.Finish.IsZero() {
					done++
				}
			}
			return fmt.Sprintf("spark: %d of %d jobs done", done, len(s.Jobs()))
		},
	}, nil
}

// newHadoop builds hadoop over Options.Jobs (or, without any, -jobs
// synthetic Facebook jobs), which it submits itself at their offsets from
// its registration; their input is found through Options.Storage.
func newHadoop(opts Options, args []string) (*Framework, error) {
	def := hadoop.DefaultConfig()
	fs := flagSet("hadoop")
	delay := fs.Duration("delay", def.NodeDelay, "delay-scheduling wait at each locality level (0 turns it off)")
	sharing := fs.String("sharing", def.Sharing.String(), "sharing between its own jobs: fifo or fair")
	slowstart := fs.Float64("slowstart", def.ReduceSlowstart, "fraction of a job's maps done before its reduces start")
	synthetic := fs.Int("jobs", 10, "synthetic Facebook jobs to run when no trace gives any")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	jobs := opts.Jobs
	if len(jobs) == 0 {
		if *synthetic <= 0 {
			return nil, fmt.Errorf("framework hadoop: -jobs %d is not positive and no trace jobs were given", *synthetic)
		}
		src, closer, err := traces.Open("synthetic:fb", traces.Options{Synthetic: traces.SyntheticOptions{Jobs: *synthetic, Seed: opts.Seed}})
		if err != nil {
			return nil, fmt.Errorf("framework hadoop: %w", err)
		}
		jobs, err = traces.ReadAll(src)
		closer.Close()
		if err != nil {
			return nil, fmt.Errorf("framework hadoop: %w", err)
		}
	}
	share, err := hadoop.ParseSharing(*sharing)
	if err != nil {
		return nil, fmt.Errorf("framework hadoop: %w", err)
	}
	cfg := def
	cfg.NodeDelay, cfg.RackDelay, cfg.Sharing, cfg.ReduceSlowstart = *delay, *delay, share, *slowstart
	cfg.Jobs = jobs
	var store hadoop.Storage
	if opts.Storage != nil {
		store = opts.Storage
	}
	f, err := hadoop.New(cfg, store)
	if err != nil {
		return nil, fmt.Errorf("framework hadoop: %w", err)
	}
	return &Framework{
		Info:      mezzo.FrameworkInfo{Name: "hadoop"},
		Scheduler: f,
		Done:      f.Done,
		Jobs: func() []JobRecord {
			recs := f.Records()
			out := make([]JobRecord, 0, len(recs))
			for _, r := range recs {
				out = append(out, JobRecord{Framework: "hadoop", Job: r.ID, Submit: r.Submit, Start: r.Start, Finish: r.Finish, Tasks: r.Tasks, LocalTasks: r.LocalMaps})
			}
			return out
		},
		Summary: func() string {
			done := 0
			for _, r := range f.Records() {
				if !r.Finish.IsZero() {
					done++
				}
			}
			return fmt.Sprintf("%d of %d jobs finished", done, len(jobs))
		},
	}, nil
}
