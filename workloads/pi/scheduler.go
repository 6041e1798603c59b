package pi

import (
	"errors"
	"fmt"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Config describes one π job.
type Config struct {
	// Tasks is how many tasks share the work (N); required.
	Tasks int
	// Samples is the number of points each task draws; 0 means 100,000,
	// small enough to be instant when the simulator runs it in process.
	Samples int64
	// TaskResources is what one task needs; empty means cpus:1;mem:32.
	TaskResources mezzo.Resources
	// ExecutorResources is charged once per agent the executor runs on.
	ExecutorResources mezzo.Resources
	// ExecutorCommand is how a real agent starts the executor process
	// (e.g. `mezzo executor pi`); nil in the simulator, which runs the
	// executor in process by Kind.
	ExecutorCommand *mezzo.CommandInfo
	// MaxAttempts bounds how often one task is tried before it is given
	// up; 0 means 3.
	MaxAttempts int
	// Refuse is the filter for declined offers; 0 means mezzo.DefaultRefuse.
	Refuse time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Tasks <= 0 {
		return c, fmt.Errorf("pi: Tasks is %d; it must be at least 1", c.Tasks)
	}
	if c.Samples < 0 {
		return c, fmt.Errorf("pi: Samples is %d; it must not be negative", c.Samples)
	}
	if c.Samples == 0 {
		c.Samples = 100_000
	}
	if c.TaskResources.IsEmpty() {
		c.TaskResources = mezzo.Cpus(1).Add(mezzo.MemMB(32))
	}
	if c.MaxAttempts < 0 {
		return c, errors.New("pi: MaxAttempts must not be negative")
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if c.Refuse == 0 {
		c.Refuse = mezzo.DefaultRefuse
	}
	return c, nil
}

// ExecutorID is the ID the π executor has on every agent.
const ExecutorID mezzo.ExecutorID = "pi-executor"

// part is one of the N pieces of work; it may take several attempts.
type part struct {
	attempts int
	current  mezzo.TaskID // task of the latest attempt; "" before the first
	done     bool         // answered or given up
}

// Scheduler is the π framework's scheduler. Create it with New.
type Scheduler struct {
	cfg     Config
	parts   []part
	byTask  map[mezzo.TaskID]int // task ID → part index, for live attempts
	pending []int                // parts waiting for an offer, in order
	onAgent map[mezzo.AgentID]bool

	sum               float64
	results, failed   int
	suppressed, ended bool
	launched          int
	registered        bool
	submit, start     time.Time
	finish            time.Time
}

// New checks cfg and returns a scheduler for it.
func New(cfg Config) (*Scheduler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Scheduler{
		cfg:     cfg,
		parts:   make([]part, cfg.Tasks),
		byTask:  make(map[mezzo.TaskID]int),
		onAgent: make(map[mezzo.AgentID]bool),
	}
	for i := range s.parts {
		s.pending = append(s.pending, i)
	}
	return s, nil
}

// Estimate is the mean of the estimates received so far (0 before any).
func (s *Scheduler) Estimate() float64 {
	if s.results == 0 {
		return 0
	}
	return s.sum / float64(s.results)
}

// Done reports whether every task has answered or been given up.
func (s *Scheduler) Done() bool { return s.results+s.failed == len(s.parts) }

// Result is what the job did, for reports.
type Result struct {
	Submit, Start, Finish time.Time // registration, first launch, last answer
	Tasks                 int       // N
	Launched              int       // task launches, retries included
	Finished, Failed      int       // parts answered, parts given up
	Estimate              float64
}

// Result reports the job so far; Finish is zero until Done.
func (s *Scheduler) Result() Result {
	return Result{Submit: s.submit, Start: s.start, Finish: s.finish, Tasks: len(s.parts),
		Launched: s.launched, Finished: s.results, Failed: s.failed, Estimate: s.Estimate()}
}

// Registered notes the submit time on first registration.
func (s *Scheduler) Registered(d mezzo.Driver, _ mezzo.FrameworkID) {
	if !s.registered {
		s.registered = true
		s.submit = d.Now()
	}
}

// ResourceOffers packs pending tasks into each offer and declines the rest.
func (s *Scheduler) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	for _, o := range offers {
		var tasks []mezzo.TaskInfo
		avail := o.Resources
		for len(s.pending) > 0 && !s.ended {
			need := s.cfg.TaskResources
			if !s.onAgent[o.AgentID] {
				need = need.Add(s.cfg.ExecutorResources)
			}
			if !avail.Contains(need) {
				break
			}
			avail = avail.Sub(need)
			s.onAgent[o.AgentID] = true
			tasks = append(tasks, s.task(s.pending[0], o.AgentID))
			s.pending = s.pending[1:]
		}
		if len(tasks) == 0 {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: s.cfg.Refuse})
			continue
		}
		if s.start.IsZero() {
			s.start = d.Now()
		}
		s.launched += len(tasks)
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{Refuse: s.cfg.Refuse})
	}
	if len(s.pending) == 0 && !s.suppressed && !s.ended {
		s.suppressed = true
		_ = d.SuppressOffers()
	}
}

func (s *Scheduler) task(i int, agent mezzo.AgentID) mezzo.TaskInfo {
	p := &s.parts[i]
	p.attempts++
	id := mezzo.TaskID(fmt.Sprintf("pi-%d", i))
	if p.attempts > 1 {
		id = mezzo.TaskID(fmt.Sprintf("pi-%d.%d", i, p.attempts))
	}
	p.current = id
	s.byTask[id] = i
	return mezzo.TaskInfo{
		ID:        id,
		Name:      fmt.Sprintf("pi part %d", i),
		AgentID:   agent,
		Resources: s.cfg.TaskResources,
		Executor: &mezzo.ExecutorInfo{
			ID:        ExecutorID,
			Name:      "pi executor",
			Kind:      Kind,
			Command:   s.cfg.ExecutorCommand,
			Resources: s.cfg.ExecutorResources,
		},
		Data: EncodeSamples(s.cfg.Samples),
	}
}

// OfferRescinded needs nothing: offers are answered as they arrive.
func (s *Scheduler) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

// StatusUpdate records answers and retries failed attempts.
func (s *Scheduler) StatusUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	i, ok := s.byTask[st.TaskID]
	if !ok || !st.State.Terminal() {
		return // a duplicate, or a stale attempt, or just RUNNING
	}
	delete(s.byTask, st.TaskID)
	p := &s.parts[i]
	if st.State == mezzo.TaskFinished {
		if v, err := ParseEstimate(st.Data); err == nil {
			p.done = true
			s.sum += v
			s.results++
			s.maybeEnd(d)
			return
		}
	}
	if p.attempts >= s.cfg.MaxAttempts {
		p.done = true
		s.failed++
		s.maybeEnd(d)
		return
	}
	s.pending = append(s.pending, i)
	if s.suppressed {
		s.suppressed = false
		_ = d.ReviveOffers()
	}
}

func (s *Scheduler) maybeEnd(d mezzo.Driver) {
	if s.Done() && !s.ended {
		s.ended = true
		s.finish = d.Now()
		_ = d.Stop(false)
	}
}

// FrameworkMessage ignores messages: results travel in status updates.
func (s *Scheduler) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}

// AgentLost forgets that the executor ran there; its tasks come back as
// TASK_LOST updates and are retried then.
func (s *Scheduler) AgentLost(_ mezzo.Driver, id mezzo.AgentID) { delete(s.onAgent, id) }

// Error ends the job where it stands.
func (s *Scheduler) Error(d mezzo.Driver, _ string) {
	if !s.ended {
		s.ended = true
		s.finish = d.Now()
	}
}
