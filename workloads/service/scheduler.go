package service

import (
	"fmt"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Step says that from At (after registration) the service wants Instances.
type Step struct {
	At        time.Duration
	Instances int
}

// Config describes a service.
type Config struct {
	// Name prefixes task IDs; "" means "service".
	Name string
	// Load is the curve, in increasing At; before the first step the
	// service wants no instances.
	Load []Step
	// TaskResources is one instance's size; required.
	TaskResources mezzo.Resources
	// Command is what an instance runs in the runtime; nil stands for
	// TaskDuration of work.
	Command *mezzo.CommandInfo
	// TaskDuration is how long a modelled instance would run by itself;
	// 0 means a year, i.e. until killed.
	TaskDuration time.Duration
	// Refuse is the filter on declined offers; 0 means mezzo.DefaultRefuse.
	Refuse time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = "service"
	}
	if c.TaskResources.ScalarPart().IsEmpty() {
		return c, fmt.Errorf("%s: TaskResources is empty", c.Name)
	}
	if len(c.Load) == 0 {
		return c, fmt.Errorf("%s: Load has no steps", c.Name)
	}
	for i, st := range c.Load {
		switch {
		case st.Instances < 0:
			return c, fmt.Errorf("%s: load step %d wants %d instances", c.Name, i, st.Instances)
		case st.At < 0:
			return c, fmt.Errorf("%s: load step %d is at a negative time %v", c.Name, i, st.At)
		case i > 0 && st.At <= c.Load[i-1].At:
			return c, fmt.Errorf("%s: load step %d (at %v) is not after step %d (at %v)", c.Name, i, st.At, i-1, c.Load[i-1].At)
		}
	}
	if c.TaskDuration == 0 {
		c.TaskDuration = 365 * 24 * time.Hour
	}
	if c.Refuse == 0 {
		c.Refuse = mezzo.DefaultRefuse
	}
	return c, nil
}

type instance struct {
	id      mezzo.TaskID
	agent   mezzo.AgentID
	running bool
	killing bool
}

// Point is the service's state after a change, for plots.
type Point struct {
	At               time.Time
	Desired          int
	Live, Running    int // instances launched and not being killed; of those, running
	Launched, Killed int // totals so far
	Restarts         int // instances replaced after an unplanned end
}

// Scheduler is the service framework. Create it with New.
type Scheduler struct {
	cfg        Config
	desired    int
	steps      int         // load steps applied
	instances  []*instance // in launch order
	next       int
	registered bool
	suppressed bool
	stopped    bool
	launched   int
	killed     int
	restarts   int
	points     []Point
}

// New checks cfg and returns a scheduler for it.
func New(cfg Config) (*Scheduler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Scheduler{cfg: cfg}, nil
}

// Desired is the instance count the curve asks for now.
func (s *Scheduler) Desired() int { return s.desired }

// Live is the number of instances launched and not being killed.
func (s *Scheduler) Live() int {
	n := 0
	for _, in := range s.instances {
		if !in.killing {
			n++
		}
	}
	return n
}

// Running is the number of live instances that reported TASK_RUNNING.
func (s *Scheduler) Running() int {
	n := 0
	for _, in := range s.instances {
		if in.running && !in.killing {
			n++
		}
	}
	return n
}

// Restarts is how many instances were replaced after an unplanned end.
func (s *Scheduler) Restarts() int { return s.restarts }

// Points is the history of changes.
func (s *Scheduler) Points() []Point { return append([]Point(nil), s.points...) }

// Done reports whether the curve has ended at zero and no instance remains.
func (s *Scheduler) Done() bool {
	return s.steps == len(s.cfg.Load) && s.desired == 0 && len(s.instances) == 0
}

func (s *Scheduler) record(d mezzo.Driver) {
	s.points = append(s.points, Point{At: d.Now(), Desired: s.desired, Live: s.Live(), Running: s.Running(),
		Launched: s.launched, Killed: s.killed, Restarts: s.restarts})
}

// Registered schedules the load curve on first registration.
func (s *Scheduler) Registered(d mezzo.Driver, _ mezzo.FrameworkID) {
	if s.registered {
		return
	}
	s.registered = true
	_ = d.SuppressOffers()
	s.suppressed = true
	for _, st := range s.cfg.Load {
		d.AfterFunc(st.At, func() {
			s.steps++
			s.desired = st.Instances
			s.reconcile(d)
			s.record(d)
		})
	}
}

// reconcile kills surplus instances, newest first, or asks for offers.
func (s *Scheduler) reconcile(d mezzo.Driver) {
	live := s.Live()
	for i := len(s.instances) - 1; i >= 0 && live > s.desired; i-- {
		in := s.instances[i]
		if in.killing {
			continue
		}
		in.killing = true
		live--
		s.killed++
		_ = d.KillTask(in.id)
	}
	switch {
	case live < s.desired && s.suppressed:
		s.suppressed = false
		_ = d.ReviveOffers()
	case live >= s.desired && !s.suppressed:
		s.suppressed = true
		_ = d.SuppressOffers()
	}
	if s.Done() && !s.stopped {
		s.stopped = true
		_ = d.Stop(false)
	}
}

// ResourceOffers launches instances until the curve is met.
func (s *Scheduler) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	launchedAny := false
	for _, o := range offers {
		var tasks []mezzo.TaskInfo
		avail := o.Resources
		for s.Live() < s.desired && avail.Contains(s.cfg.TaskResources) {
			avail = avail.Sub(s.cfg.TaskResources)
			id := mezzo.TaskID(fmt.Sprintf("%s-%d", s.cfg.Name, s.next))
			s.next++
			s.instances = append(s.instances, &instance{id: id, agent: o.AgentID})
			s.launched++
			tasks = append(tasks, mezzo.TaskInfo{
				ID: id, Name: fmt.Sprintf("%s instance %s", s.cfg.Name, id), AgentID: o.AgentID,
				Resources: s.cfg.TaskResources, Command: s.cfg.Command, Duration: s.cfg.TaskDuration,
			})
		}
		if len(tasks) == 0 {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: s.cfg.Refuse})
			continue
		}
		launchedAny = true
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{Refuse: s.cfg.Refuse})
	}
	s.reconcile(d)
	if launchedAny {
		s.record(d)
	}
}

// OfferRescinded needs nothing: offers are answered as they arrive.
func (s *Scheduler) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

// StatusUpdate tracks instances and replaces those that end unplanned.
func (s *Scheduler) StatusUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	i := s.find(st.TaskID)
	if i < 0 {
		return
	}
	in := s.instances[i]
	if !st.State.Terminal() {
		if st.State == mezzo.TaskRunning && !in.running {
			in.running = true
			s.record(d)
		}
		return
	}
	s.instances = append(s.instances[:i], s.instances[i+1:]...)
	if !in.killing {
		s.restarts++
	}
	s.reconcile(d)
	s.record(d)
}

func (s *Scheduler) find(id mezzo.TaskID) int {
	for i, in := range s.instances {
		if in.id == id {
			return i
		}
	}
	return -1
}

// FrameworkMessage ignores messages.
func (s *Scheduler) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}

// AgentLost needs nothing here: the agent's instances come back as
// TASK_LOST and are replaced then.
func (s *Scheduler) AgentLost(mezzo.Driver, mezzo.AgentID) {}

// Error needs no action: the framework is gone.
func (s *Scheduler) Error(mezzo.Driver, string) {}
