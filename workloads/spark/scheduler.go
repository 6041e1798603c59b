package spark

import (
	"fmt"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Job is one iterative job.
type Job struct {
	ID string
	// Submit is when the job arrives, after the framework registers.
	Submit time.Duration
	// Iterations is how many passes over the data the job makes.
	Iterations int
	// Blocks are the input blocks, one partition each.
	Blocks []string
	// FirstDuration is a task that reads its block from the file system;
	// IterDuration one that reads its cached partition.
	FirstDuration, IterDuration time.Duration
}

// Config describes the framework.
type Config struct {
	// Name prefixes task IDs; "" means "spark".
	Name string
	Jobs []Job
	// TaskResources is one task's size; empty means cpus:1;mem:1024.
	TaskResources mezzo.Resources
	// LocalityWait is how long a job declines non-caching agents before
	// running a partition elsewhere; 0 means 3 s, negative means never wait.
	LocalityWait time.Duration
	// Refuse filters offers declined when there is no work; 0 means
	// mezzo.DefaultRefuse.
	Refuse time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = "spark"
	}
	if c.TaskResources.ScalarPart().IsEmpty() {
		c.TaskResources = mezzo.Cpus(1).Add(mezzo.MemMB(1024))
	}
	if c.LocalityWait == 0 {
		c.LocalityWait = 3 * time.Second
	}
	if c.LocalityWait < 0 {
		c.LocalityWait = 0
	}
	if c.Refuse == 0 {
		c.Refuse = mezzo.DefaultRefuse
	}
	seen := map[string]bool{}
	for i, j := range c.Jobs {
		switch {
		case j.ID == "":
			return c, fmt.Errorf("%s: job %d has no ID", c.Name, i)
		case seen[j.ID]:
			return c, fmt.Errorf("%s: job ID %q appears twice", c.Name, j.ID)
		case j.Iterations <= 0:
			return c, fmt.Errorf("%s: job %q has %d iterations; it needs at least 1", c.Name, j.ID, j.Iterations)
		case len(j.Blocks) == 0:
			return c, fmt.Errorf("%s: job %q has no input blocks", c.Name, j.ID)
		case j.Submit < 0 || j.FirstDuration < 0 || j.IterDuration < 0:
			return c, fmt.Errorf("%s: job %q has a negative time", c.Name, j.ID)
		}
		seen[j.ID] = true
	}
	return c, nil
}

// JobResult is what happened to one job.
type JobResult struct {
	ID                    string
	Submit, Start, Finish time.Time // zero until it happens
	// Tasks counts launches; LocalTasks those of later iterations that ran
	// on the agent caching their partition.
	Tasks, LocalTasks int
	// IterationTimes is how long each completed iteration took.
	IterationTimes []time.Duration
}

type partition struct {
	cachedOn mezzo.AgentID // "" when not cached (first iteration, or lost)
	pending  bool
	task     mezzo.TaskID // running task, "" when none
	agent    mezzo.AgentID
}

type jobState struct {
	Job
	res          JobResult
	arrived      bool
	iteration    int // 1-based; 0 before arrival
	iterStart    time.Time
	waitingSince time.Time // last local launch or iteration start
	parts        []partition
	left         int // partitions of this iteration not finished
	done         bool
}

// Scheduler is the framework's scheduler. Create it with New.
type Scheduler struct {
	cfg        Config
	jobs       []*jobState
	byTask     map[mezzo.TaskID]taskRef
	seq        int
	registered bool
	suppressed bool
	completed  int
}

type taskRef struct {
	job       *jobState
	part      int
	iteration int
}

// New checks cfg and returns a scheduler for it.
func New(cfg Config) (*Scheduler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Scheduler{cfg: cfg, byTask: map[mezzo.TaskID]taskRef{}}
	for _, j := range cfg.Jobs {
		s.jobs = append(s.jobs, &jobState{Job: j, res: JobResult{ID: j.ID}, parts: make([]partition, len(j.Blocks))})
	}
	return s, nil
}

// Done reports whether every job has completed.
func (s *Scheduler) Done() bool { return s.completed == len(s.jobs) }

// Jobs reports every job, in config order.
func (s *Scheduler) Jobs() []JobResult {
	out := make([]JobResult, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = j.res
		out[i].IterationTimes = append([]time.Duration(nil), j.res.IterationTimes...)
	}
	return out
}

// Registered schedules the jobs' arrivals on first registration.
func (s *Scheduler) Registered(d mezzo.Driver, _ mezzo.FrameworkID) {
	if s.registered {
		return
	}
	s.registered = true
	s.suppressed = true
	_ = d.SuppressOffers()
	for _, j := range s.jobs {
		if j.Submit <= 0 {
			s.arrive(d, j)
			continue
		}
		d.AfterFunc(j.Submit, func() { s.arrive(d, j) })
	}
}

func (s *Scheduler) arrive(d mezzo.Driver, j *jobState) {
	j.arrived = true
	j.res.Submit = d.Now()
	s.startIteration(d, j)
}

func (s *Scheduler) startIteration(d mezzo.Driver, j *jobState) {
	j.iteration++
	j.iterStart = d.Now()
	j.waitingSince = d.Now()
	j.left = len(j.parts)
	for i := range j.parts {
		j.parts[i].pending = true
	}
	s.revive(d)
}

func (s *Scheduler) revive(d mezzo.Driver) {
	if s.suppressed {
		s.suppressed = false
		_ = d.ReviveOffers()
	}
}

// ResourceOffers places cached partitions on their agents, and others
// anywhere once the job has waited LocalityWait.
func (s *Scheduler) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	for _, o := range offers {
		var tasks []mezzo.TaskInfo
		avail := o.Resources
		for avail.Contains(s.cfg.TaskResources) {
			t, ok := s.pick(d, o.AgentID)
			if !ok {
				break
			}
			avail = avail.Sub(s.cfg.TaskResources)
			tasks = append(tasks, t)
		}
		if len(tasks) > 0 {
			_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{Refuse: s.cfg.Refuse})
			continue
		}
		refuse := s.cfg.Refuse
		if s.anyPending() {
			// Waiting for locality: see this agent again once the wait
			// may have run out.
			refuse = max(s.cfg.LocalityWait, time.Second)
		}
		_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: refuse})
	}
	if !s.anyPending() && !s.suppressed {
		s.suppressed = true
		_ = d.SuppressOffers()
	}
}

func (s *Scheduler) anyPending() bool {
	for _, j := range s.jobs {
		if !j.arrived || j.done {
			continue
		}
		for _, p := range j.parts {
			if p.pending {
				return true
			}
		}
	}
	return false
}

// pick chooses the next task for agent: the first job (in arrival order)
// with a partition cached there, a partition cached nowhere, or, after the
// locality wait, any partition.
func (s *Scheduler) pick(d mezzo.Driver, agent mezzo.AgentID) (mezzo.TaskInfo, bool) {
	now := d.Now()
	for _, j := range s.jobs {
		if !j.arrived || j.done {
			continue
		}
		local, free, other := -1, -1, -1
		for i, p := range j.parts {
			if !p.pending {
				continue
			}
			switch {
			case p.cachedOn == agent && local < 0:
				local = i
			case p.cachedOn == "" && free < 0:
				free = i
			case other < 0:
				other = i
			}
		}
		switch {
		case local >= 0:
			j.waitingSince = now
			return s.launch(d, j, local, agent, true), true
		case free >= 0:
			return s.launch(d, j, free, agent, false), true
		case other >= 0 && now.Sub(j.waitingSince) >= s.cfg.LocalityWait:
			return s.launch(d, j, other, agent, false), true
		}
	}
	return mezzo.TaskInfo{}, false
}

func (s *Scheduler) launch(d mezzo.Driver, j *jobState, i int, agent mezzo.AgentID, cached bool) mezzo.TaskInfo {
	p := &j.parts[i]
	s.seq++
	id := mezzo.TaskID(fmt.Sprintf("%s-%s-i%d-p%d-%d", s.cfg.Name, j.ID, j.iteration, i, s.seq))
	p.pending, p.task, p.agent = false, id, agent
	s.byTask[id] = taskRef{job: j, part: i, iteration: j.iteration}
	j.res.Tasks++
	if j.res.Start.IsZero() {
		j.res.Start = d.Now()
	}
	t := mezzo.TaskInfo{
		ID: id, Name: fmt.Sprintf("%s %s iteration %d partition %d", s.cfg.Name, j.ID, j.iteration, i),
		AgentID: agent, Resources: s.cfg.TaskResources,
		Labels: map[string]string{"job": j.ID, "iteration": fmt.Sprint(j.iteration), "block": j.Blocks[i]},
	}
	if cached && j.iteration > 1 {
		j.res.LocalTasks++
		t.Duration = j.IterDuration
		t.Labels["cached"] = "true"
	} else {
		// Not cached here: read the block and compute the partition again.
		t.Duration = j.FirstDuration
		t.Input = []string{j.Blocks[i]}
	}
	return t
}

// OfferRescinded needs nothing: offers are answered as they arrive.
func (s *Scheduler) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

// StatusUpdate caches finished partitions, retries lost ones, and moves
// jobs through their iterations.
func (s *Scheduler) StatusUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	ref, ok := s.byTask[st.TaskID]
	if !ok || !st.State.Terminal() {
		return
	}
	delete(s.byTask, st.TaskID)
	j, p := ref.job, &ref.job.parts[ref.part]
	p.task = ""
	if st.State != mezzo.TaskFinished {
		p.cachedOn = "" // whatever it cached there is gone with the task
		p.pending = true
		s.revive(d)
		return
	}
	p.cachedOn = p.agent
	j.left--
	if j.left > 0 {
		return
	}
	j.res.IterationTimes = append(j.res.IterationTimes, d.Now().Sub(j.iterStart))
	if j.iteration < j.Iterations {
		s.startIteration(d, j)
		return
	}
	j.done = true
	j.res.Finish = d.Now()
	s.completed++
	if s.Done() {
		_ = d.Stop(false)
	}
}

// FrameworkMessage ignores messages.
func (s *Scheduler) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}

// AgentLost forgets the partitions cached on the agent; its running tasks
// come back as TASK_LOST.
func (s *Scheduler) AgentLost(_ mezzo.Driver, id mezzo.AgentID) {
	for _, j := range s.jobs {
		for i := range j.parts {
			if j.parts[i].cachedOn == id {
				j.parts[i].cachedOn = ""
			}
		}
	}
}

// Error needs no action: the framework is gone.
func (s *Scheduler) Error(mezzo.Driver, string) {}
