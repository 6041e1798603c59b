package mpi

import (
	"fmt"
	"slices"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Job is one rigid job.
type Job struct {
	ID string
	// Submit is when the job arrives, after the framework registers.
	Submit time.Duration
	// Tasks is how many tasks must run at once; TaskResources is each one's
	// size. Duration is each task's running time (modelled work).
	Tasks         int
	TaskResources mezzo.Resources
	Duration      time.Duration
	// Command runs each task for real in the runtime; nil stands for
	// Duration of work.
	Command *mezzo.CommandInfo
}

// Config describes the framework.
type Config struct {
	// Name prefixes task IDs and labels the framework; "" means "mpi".
	Name string
	Jobs []Job
	// Cluster is the cluster's total resources; the cap is a share of it.
	Cluster mezzo.Resources
	// Cap is the largest share of Cluster held or used at once, in (0, 1];
	// 0 means 1.
	Cap float64
	// HoldTimeout is how long an incomplete gang holds offers; 0 means 30 s.
	HoldTimeout time.Duration
	// RetryAfter filters released agents so others can use them; 0 means
	// 10 s.
	RetryAfter time.Duration
	// MaxTasksPerAgent limits a job's tasks on one agent (1: one per node);
	// 0 means as many as fit.
	MaxTasksPerAgent int
	// StrictFIFO keeps the oldest job gathering until it runs.
	StrictFIFO bool
	// AcquireNodes gathers a gang the way the paper's Torque framework
	// did, instead of holding offers: every useful offer is accepted at
	// once to launch a node daemon (Torque's pbs_mom) that keeps one task
	// slot on its agent; the job starts when it has Tasks daemons and runs
	// inside them for Duration; daemons are handed to the next queued job
	// or, when none needs them, killed. Nothing is given back on a
	// timeout (HoldTimeout is unused): the nodes acquired stay acquired.
	// The work is modelled (Duration): Command is not supported.
	AcquireNodes bool
}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = "mpi"
	}
	if c.Cap == 0 {
		c.Cap = 1
	}
	if c.Cap < 0 || c.Cap > 1 {
		return c, fmt.Errorf("%s: Cap %v is not in (0, 1]", c.Name, c.Cap)
	}
	if c.Cluster.ScalarPart().IsEmpty() {
		return c, fmt.Errorf("%s: Cluster is empty; the cap needs the cluster's size", c.Name)
	}
	if c.HoldTimeout == 0 {
		c.HoldTimeout = 30 * time.Second
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = 10 * time.Second
	}
	if c.HoldTimeout < 0 || c.RetryAfter < 0 || c.MaxTasksPerAgent < 0 {
		return c, fmt.Errorf("%s: HoldTimeout, RetryAfter and MaxTasksPerAgent must not be negative", c.Name)
	}
	seen := map[string]bool{}
	for i, j := range c.Jobs {
		switch {
		case j.ID == "":
			return c, fmt.Errorf("%s: job %d has no ID", c.Name, i)
		case seen[j.ID]:
			return c, fmt.Errorf("%s: job ID %q appears twice", c.Name, j.ID)
		case j.Tasks <= 0:
			return c, fmt.Errorf("%s: job %q has %d tasks; it needs at least 1", c.Name, j.ID, j.Tasks)
		case j.TaskResources.ScalarPart().IsEmpty():
			return c, fmt.Errorf("%s: job %q has no task resources", c.Name, j.ID)
		case j.Submit < 0 || j.Duration < 0:
			return c, fmt.Errorf("%s: job %q has a negative submit time or duration", c.Name, j.ID)
		case c.AcquireNodes && j.Command != nil:
			return c, fmt.Errorf("%s: job %q has a Command; AcquireNodes runs modelled work (Duration) only", c.Name, j.ID)
		}
		seen[j.ID] = true
	}
	return c, nil
}

// JobResult is what happened to one job.
type JobResult struct {
	ID                    string
	Submit, Start, Finish time.Time // zero until it happens
	Tasks                 int
	Attempts              int // gangs launched (more than 1 after a failure)
	Releases              int // times a partial gang was given back
}

type jobState struct {
	Job
	res       JobResult
	live      map[mezzo.TaskID]bool // tasks of the current attempt not yet ended
	finished  int
	failed    bool // the current attempt lost a task; waiting for the rest to end
	completed bool
	// AcquireNodes only: running is set while an attempt runs inside the
	// job's daemons; runTimer ends it.
	running  bool
	runTimer mezzo.Timer
}

// taskRef ties a task to its job and attempt, so updates from an attempt
// already given up still return its resources but change nothing else.
type taskRef struct {
	job     *jobState
	attempt int
	res     mezzo.Resources
}

// Scheduler is the gang scheduler. Create it with New.
type Scheduler struct {
	cfg        Config
	capRes     mezzo.Resources
	jobs       []*jobState              // in config order
	queue      []*jobState              // arrived, waiting for a gang
	byTask     map[mezzo.TaskID]taskRef // every task not yet ended
	held       []mezzo.Offer            // offers held for the head of the queue, in arrival order
	holdTimer  mezzo.Timer
	inUse      mezzo.Resources // resources of tasks not yet ended
	registered bool
	suppressed bool
	completed  int
	// daemons are the node daemons of AcquireNodes mode, in launch order.
	daemons         []*daemon
	launchedDaemons int
}

// New checks cfg and returns a scheduler for it.
func New(cfg Config) (*Scheduler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Scheduler{cfg: cfg, byTask: map[mezzo.TaskID]taskRef{}}
	for _, sc := range cfg.Cluster.Scalars() {
		r, _ := mezzo.NewResources(map[string]float64{sc.Name: sc.Value() * cfg.Cap})
		s.capRes = s.capRes.Add(r)
	}
	for _, j := range cfg.Jobs {
		s.jobs = append(s.jobs, &jobState{Job: j, res: JobResult{ID: j.ID, Tasks: j.Tasks}})
	}
	return s, nil
}

// Config returns the configuration in force, defaults filled in.
func (s *Scheduler) Config() Config { return s.cfg }

// Done reports whether every job has completed.
func (s *Scheduler) Done() bool { return s.completed == len(s.jobs) }

// Jobs reports every job, in config order.
func (s *Scheduler) Jobs() []JobResult {
	out := make([]JobResult, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = j.res
	}
	return out
}

// Held is the resources of the offers held right now.
func (s *Scheduler) Held() mezzo.Resources {
	var r mezzo.Resources
	for _, o := range s.held {
		r = r.Add(o.Resources)
	}
	return r
}

// Acquired is the resources of the node daemons kept (AcquireNodes mode),
// idle or running a job, kills not yet sent.
func (s *Scheduler) Acquired() mezzo.Resources {
	var r mezzo.Resources
	for _, dm := range s.daemons {
		if !dm.ending {
			r = r.Add(dm.res)
		}
	}
	return r
}

// InUse is the resources of tasks launched and not yet ended.
func (s *Scheduler) InUse() mezzo.Resources { return s.inUse }

// Registered schedules the jobs' arrivals on first registration.
func (s *Scheduler) Registered(d mezzo.Driver, _ mezzo.FrameworkID) {
	if s.registered {
		return
	}
	s.registered = true
	for _, j := range s.jobs {
		if j.Submit <= 0 {
			s.arrive(d, j)
			continue
		}
		d.AfterFunc(j.Submit, func() { s.arrive(d, j) })
	}
	if len(s.queue) == 0 {
		s.suppress(d)
	}
}

func (s *Scheduler) arrive(d mezzo.Driver, j *jobState) {
	j.res.Submit = d.Now()
	s.queue = append(s.queue, j)
	s.revive(d)
}

func (s *Scheduler) suppress(d mezzo.Driver) {
	if !s.suppressed {
		s.suppressed = true
		_ = d.SuppressOffers()
	}
}

func (s *Scheduler) revive(d mezzo.Driver) {
	if s.suppressed {
		s.suppressed = false
		_ = d.ReviveOffers()
	}
}

// ResourceOffers holds offers that help the head job's gang and launches
// the gang once it is complete.
func (s *Scheduler) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	if s.cfg.AcquireNodes {
		s.acquire(d, offers)
		return
	}
	for _, o := range offers {
		if !s.useful(o) {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: s.cfg.RetryAfter})
			continue
		}
		s.held = append(s.held, o)
		if s.holdTimer == nil {
			s.holdTimer = d.AfterFunc(s.cfg.HoldTimeout, func() { s.release(d) })
		}
	}
	s.tryLaunch(d)
}

// useful says whether holding o brings the head job closer, within the cap.
func (s *Scheduler) useful(o mezzo.Offer) bool {
	if len(s.queue) == 0 {
		return false
	}
	j := s.queue[0]
	if s.fits(o.Resources, j, 1) == 0 {
		return false
	}
	if !s.capRes.Contains(s.inUse.Add(s.Held()).Add(o.Resources).ScalarPart()) {
		return false
	}
	// Hold no more than the gang needs: once it is complete, extra offers
	// only keep resources from others.
	return s.placeable(j) < j.Tasks
}

// fits is how many of j's tasks fit in r, at most limit (0: no limit), and
// at most MaxTasksPerAgent.
func (s *Scheduler) fits(r mezzo.Resources, j *jobState, limit int) int {
	n := 0
	for r.Contains(j.TaskResources) {
		if (limit > 0 && n == limit) || (s.cfg.MaxTasksPerAgent > 0 && n == s.cfg.MaxTasksPerAgent) {
			break
		}
		r = r.Sub(j.TaskResources)
		n++
	}
	return n
}

// heldByAgent groups held offers by agent, agents in order of first offer.
func (s *Scheduler) heldByAgent() (agents []mezzo.AgentID, offers map[mezzo.AgentID][]mezzo.Offer) {
	offers = map[mezzo.AgentID][]mezzo.Offer{}
	for _, o := range s.held {
		if _, ok := offers[o.AgentID]; !ok {
			agents = append(agents, o.AgentID)
		}
		offers[o.AgentID] = append(offers[o.AgentID], o)
	}
	return agents, offers
}

func (s *Scheduler) placeable(j *jobState) int {
	agents, offers := s.heldByAgent()
	n := 0
	for _, a := range agents {
		var r mezzo.Resources
		for _, o := range offers[a] {
			r = r.Add(o.Resources)
		}
		n += s.fits(r, j, 0)
	}
	return n
}

func (s *Scheduler) tryLaunch(d mezzo.Driver) {
	if len(s.queue) == 0 || len(s.held) == 0 {
		return
	}
	j := s.queue[0]
	if s.placeable(j) < j.Tasks {
		return
	}
	s.queue = s.queue[1:]
	if s.holdTimer != nil {
		s.holdTimer.Stop()
		s.holdTimer = nil
	}
	j.res.Attempts++
	j.failed = false
	j.finished = 0
	j.live = map[mezzo.TaskID]bool{}
	if j.res.Start.IsZero() {
		j.res.Start = d.Now()
	}
	agents, offers := s.heldByAgent()
	s.held = nil
	next := 0
	for _, a := range agents {
		var r mezzo.Resources
		ids := make([]mezzo.OfferID, 0, len(offers[a]))
		for _, o := range offers[a] {
			r = r.Add(o.Resources)
			ids = append(ids, o.ID)
		}
		n := s.fits(r, j, j.Tasks-next)
		if n == 0 {
			for _, id := range ids {
				_ = d.DeclineOffer(id, mezzo.Filters{})
			}
			continue
		}
		tasks := make([]mezzo.TaskInfo, n)
		for k := range tasks {
			id := mezzo.TaskID(fmt.Sprintf("%s-%s-a%d-t%d", s.cfg.Name, j.ID, j.res.Attempts, next))
			tasks[k] = mezzo.TaskInfo{
				ID: id, Name: fmt.Sprintf("%s %s task %d", s.cfg.Name, j.ID, next), AgentID: a,
				Resources: j.TaskResources, Duration: j.Duration, Command: j.Command,
				Labels: map[string]string{"job": j.ID},
			}
			j.live[id] = true
			s.byTask[id] = taskRef{job: j, attempt: j.res.Attempts, res: j.TaskResources}
			s.inUse = s.inUse.Add(j.TaskResources)
			next++
		}
		_ = d.LaunchTasks(ids, tasks, mezzo.Filters{})
	}
	if len(s.queue) == 0 {
		s.suppress(d)
	}
}

// release gives back every held offer after the hold timeout.
func (s *Scheduler) release(d mezzo.Driver) {
	s.holdTimer = nil
	if len(s.held) == 0 {
		return
	}
	for _, o := range s.held {
		_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: s.cfg.RetryAfter})
	}
	s.held = nil
	if len(s.queue) > 0 {
		j := s.queue[0]
		j.res.Releases++
		if !s.cfg.StrictFIFO && len(s.queue) > 1 {
			s.queue = append(s.queue[1:], j)
		}
	}
}

// OfferRescinded drops a held offer.
func (s *Scheduler) OfferRescinded(_ mezzo.Driver, id mezzo.OfferID) {
	s.held = slices.DeleteFunc(s.held, func(o mezzo.Offer) bool { return o.ID == id })
}

// StatusUpdate completes jobs and restarts those that lost a task.
func (s *Scheduler) StatusUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	if s.cfg.AcquireNodes {
		s.daemonUpdate(d, st)
		return
	}
	ref, ok := s.byTask[st.TaskID]
	if !ok || !st.State.Terminal() {
		return
	}
	delete(s.byTask, st.TaskID)
	s.inUse = s.inUse.Sub(ref.res)
	j := ref.job
	if ref.attempt != j.res.Attempts {
		return
	}
	delete(j.live, st.TaskID)
	if st.State == mezzo.TaskFinished && !j.failed {
		j.finished++
		if j.finished == j.Tasks {
			j.completed = true
			j.res.Finish = d.Now()
			s.completed++
			if s.Done() {
				_ = d.Stop(false)
			}
		}
		return
	}
	if !j.failed && st.State != mezzo.TaskFinished {
		// A rigid job cannot run short-handed: end the rest, run it again.
		j.failed = true
		ids := make([]mezzo.TaskID, 0, len(j.live))
		for id := range j.live {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			_ = d.KillTask(id)
		}
		s.queue = append([]*jobState{j}, s.queue...)
		s.revive(d)
	}
}

// FrameworkMessage ignores messages.
func (s *Scheduler) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}

// AgentLost drops held offers on the agent; its tasks come back as lost.
func (s *Scheduler) AgentLost(_ mezzo.Driver, id mezzo.AgentID) {
	s.held = slices.DeleteFunc(s.held, func(o mezzo.Offer) bool { return o.AgentID == id })
}

// Error needs no action: the framework is gone.
func (s *Scheduler) Error(mezzo.Driver, string) {}
