package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/traces"
)

// DefaultSampleEvery is how often shares are sampled unless configured.
const DefaultSampleEvery = 10 * time.Second

// DefaultHorizon is how long a run may go on after its last job was
// submitted before it is cut short as stuck.
const DefaultHorizon = 7 * 24 * time.Hour

// JobLabel is the task label naming the job a task belongs to; the run
// layer groups tasks into its per-job rows by it.
const JobLabel = "job"

// Config describes one simulation run.
type Config struct {
	// Agents is the cluster size; AgentsPerRack and AgentResources
	// default as in ClusterConfig.
	Agents         int
	AgentsPerRack  int
	AgentResources mezzo.Resources
	// Policy names the allocation policy in alloc.DefaultRegistry().
	Policy string
	// Seed seeds block placement and the policy.
	Seed uint64
	// World configures latency, batch interval, executors, failures and
	// check mode.
	World WorldConfig
	// ReadCost replaces DefaultReadCost when set.
	ReadCost *ReadCost
	// SampleEvery is the share sampling period; 0 means DefaultSampleEvery.
	SampleEvery time.Duration
	// Horizon bounds the run after the last submission (0:
	// DefaultHorizon); with no framework that can finish, the run lasts
	// exactly this long after the last submission.
	Horizon time.Duration
	// Progress, when set, is called once a virtual second with the number
	// of jobs finished and the number given.
	Progress func(finished, total int)
}

// FrameworkSpec is a framework to run.
type FrameworkSpec struct {
	// Name is the framework's ID and its name in the outputs; unique.
	Name string
	// Info is what it registers with (ID and Name are set from Name).
	Info      mezzo.FrameworkInfo
	Scheduler mezzo.Scheduler
	// Jobs are the trace jobs it runs: each gets an input file in the DFS
	// (one block per map, see Storage) and a row in the results.
	Jobs []traces.Job
	// Submit, when set, is called at each job's submit time (Epoch plus
	// Job.Submit) on the engine. When nil the framework submits Jobs on
	// its own.
	Submit func(traces.Job)
	// Done reports whether the framework has finished its work; the run
	// ends when every framework with a Done has. Nil for frameworks that
	// run alongside (a service).
	Done func() bool
}

// Simulation is one run being set up: build it with New, add frameworks
// (giving them Storage), then Run.
type Simulation struct {
	cfg     Config
	eng     *Engine
	cluster *Cluster
	dfs     *DFS
	alloc   *alloc.Allocator
	world   *World
	specs   []*FrameworkSpec
	metrics *metrics
	ran     bool
}

// New builds the cluster, its DFS, the allocator with the named policy and
// the world. An unknown policy is an error listing the known ones.
func New(cfg Config) (*Simulation, error) {
	reg := alloc.DefaultRegistry()
	if cfg.Policy == "" {
		return nil, fmt.Errorf("sim: no allocation policy named (known: %v)", reg.Names())
	}
	pol, err := reg.New(cfg.Policy, alloc.PolicyOptions{Seed: cfg.Seed})
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	a, err := alloc.New(alloc.Config{Policy: pol})
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	c, err := NewCluster(ClusterConfig{Agents: cfg.Agents, AgentsPerRack: cfg.AgentsPerRack, Resources: cfg.AgentResources})
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	dfs, err := NewDFS(c, rand.New(rand.NewPCG(cfg.Seed, 0x6d657a7a6f)))
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if cfg.ReadCost != nil {
		if err := dfs.SetReadCost(*cfg.ReadCost); err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = DefaultSampleEvery
	}
	if cfg.Horizon <= 0 {
		cfg.Horizon = DefaultHorizon
	}
	s := &Simulation{cfg: cfg, eng: NewEngine(), cluster: c, dfs: dfs, alloc: a}
	s.metrics = newMetrics(s)
	w, err := NewWorld(s.eng, a, c, dfs, cfg.World, s.metrics.hooks())
	if err != nil {
		return nil, err
	}
	s.world = w
	return s, nil
}

// Cluster is the simulated cluster.
func (s *Simulation) Cluster() *Cluster { return s.cluster }

// World is the simulated master and agents.
func (s *Simulation) World() *World { return s.world }

// JobStorage locates the input of one framework's jobs in the DFS: job J's
// file is "FRAMEWORK/J", one BlockSize block per map.
type JobStorage struct {
	dfs    *DFS
	prefix string
}

// Blocks lists the blocks of a job's input, one per map.
func (j JobStorage) Blocks(job string) []string {
	b, _ := j.dfs.Blocks(j.prefix + job)
	return b
}

// Locations lists the agents holding a block.
func (j JobStorage) Locations(block string) []mezzo.AgentID {
	l, _ := j.dfs.Locations(block)
	return l
}

// Storage returns where the named framework's job inputs live. The files
// appear when the framework is added.
func (s *Simulation) Storage(framework string) JobStorage {
	return JobStorage{dfs: s.dfs, prefix: framework + "/"}
}

// AddFramework registers a framework and creates its jobs' input files.
func (s *Simulation) AddFramework(spec FrameworkSpec) error {
	if spec.Name == "" || spec.Scheduler == nil {
		return errors.New("sim: a framework needs a name and a scheduler")
	}
	for _, o := range s.specs {
		if o.Name == spec.Name {
			return fmt.Errorf("sim: framework %q added twice", spec.Name)
		}
	}
	for _, j := range spec.Jobs {
		if j.Maps <= 0 {
			continue
		}
		if _, err := s.dfs.AddFile(spec.Name+"/"+j.ID, int64(j.Maps)*BlockSize); err != nil {
			return fmt.Errorf("sim: framework %s, job %s: %w", spec.Name, j.ID, err)
		}
	}
	info := spec.Info
	info.ID, info.Name = mezzo.FrameworkID(spec.Name), spec.Name
	if _, err := s.world.AddFramework(info, spec.Scheduler); err != nil {
		return err
	}
	sp := spec
	s.specs = append(s.specs, &sp)
	s.metrics.addFramework(&sp)
	return nil
}

// Run plays the simulation to its end: until every framework with a Done
// has finished, or the horizon. It returns the results; an error means the
// run was cut short (a check failed, or work was left at the horizon) and
// the results describe it up to there.
func (s *Simulation) Run() (*Result, error) {
	if s.ran {
		return nil, errors.New("sim: Run called twice")
	}
	s.ran = true
	var last time.Duration
	for _, sp := range s.specs {
		for _, j := range sp.Jobs {
			last = max(last, j.Submit)
			if sp.Submit != nil {
				job, submit := j, sp.Submit
				s.world.after(j.Submit, func() { submit(job) })
			}
		}
	}
	if err := s.world.Start(); err != nil {
		return nil, err
	}
	horizon := last + s.cfg.Horizon
	var cut error
	s.metrics.sampleEvery(s.cfg.SampleEvery)
	s.world.hooks.Tick = func() {
		if s.cfg.Progress != nil {
			s.cfg.Progress(s.metrics.finishedJobs(), s.metrics.totalJobs())
		}
		waited, done := 0, 0
		for _, sp := range s.specs {
			if sp.Done != nil {
				waited++
				if sp.Done() {
					done++
				}
			}
		}
		// Frameworks fed by Submit look done between jobs: wait for the
		// last submission.
		if waited > 0 && done == waited && s.eng.Elapsed() >= last {
			s.eng.Stop()
			return
		}
		if s.eng.Elapsed() >= horizon {
			if waited > 0 {
				cut = fmt.Errorf("sim: %d of %d frameworks still had work %v after the last submission", waited-done, waited, s.cfg.Horizon)
			}
			s.eng.Stop()
		}
	}
	s.eng.Run()
	s.world.Stop()
	if err := s.world.Err(); err != nil {
		return s.metrics.result(), err
	}
	res := s.metrics.result()
	if s.cfg.World.Check {
		st := s.world.Stats()
		running := 0
		for _, sp := range s.specs {
			running += s.world.RunningTasks(mezzo.FrameworkID(sp.Name))
		}
		if st.Launched != st.Ended+running {
			return res, fmt.Errorf("sim: %d tasks launched, %d ended, %d running: tasks were lost track of", st.Launched, st.Ended, running)
		}
	}
	return res, cut
}
