package experiments

import (
	"fmt"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// stage is one scheduler of a chain and how to tell it has finished.
type stage struct {
	s    mezzo.Scheduler
	done func() bool
}

// chain runs schedulers one after another as one framework, each starting
// gap after the previous finished: the paper's "each job submitted when (or
// two minutes after) the previous one ends", which fixed submit times
// cannot express. Each stage sees Registered when its turn comes; the
// stage before it has no task left by then, so callbacks go to the current
// stage only.
type chain struct {
	stages  []stage
	gap     time.Duration
	cur     int
	id      mezzo.FrameworkID
	waiting bool // between stages
	// starts records when each stage began.
	starts []time.Time
}

func newChain(gap time.Duration, stages ...stage) *chain {
	return &chain{stages: stages, gap: gap}
}

// Done reports whether every stage has finished.
func (c *chain) Done() bool {
	return c.cur == len(c.stages)-1 && c.stages[c.cur].done()
}

func (c *chain) Registered(d mezzo.Driver, id mezzo.FrameworkID) {
	if c.starts != nil {
		return
	}
	c.id = id
	c.starts = append(c.starts, d.Now())
	c.stages[0].s.Registered(keep{d}, id)
	c.poll(d)
}

// poll checks every second whether the stage has finished: a stage may
// finish outside a status update (on a timer of its own), and no further
// update would tell.
func (c *chain) poll(d mezzo.Driver) {
	d.AfterFunc(time.Second, func() {
		c.advance(d)
		if !c.Done() {
			c.poll(d)
		}
	})
}

func (c *chain) advance(d mezzo.Driver) {
	if c.waiting || c.cur == len(c.stages)-1 || !c.stages[c.cur].done() {
		return
	}
	c.waiting = true
	_ = d.SuppressOffers()
	d.AfterFunc(c.gap, func() {
		c.waiting = false
		c.cur++
		c.starts = append(c.starts, d.Now())
		c.stages[c.cur].s.Registered(keep{d}, c.id)
		// A stage that suppressed itself before asking for nothing
		// needs no revive; one that wants work revives on its own.
	})
}

func (c *chain) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	if c.waiting {
		for _, o := range offers {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: c.gap})
		}
		return
	}
	c.stages[c.cur].s.ResourceOffers(keep{d}, offers)
}

func (c *chain) OfferRescinded(d mezzo.Driver, id mezzo.OfferID) {
	c.stages[c.cur].s.OfferRescinded(keep{d}, id)
}

func (c *chain) StatusUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	c.stages[c.cur].s.StatusUpdate(keep{d}, st)
	c.advance(d)
}

func (c *chain) FrameworkMessage(d mezzo.Driver, e mezzo.ExecutorID, a mezzo.AgentID, data []byte) {
	c.stages[c.cur].s.FrameworkMessage(keep{d}, e, a, data)
}

func (c *chain) AgentLost(d mezzo.Driver, id mezzo.AgentID) { c.stages[c.cur].s.AgentLost(keep{d}, id) }
func (c *chain) Error(d mezzo.Driver, msg string)           { c.stages[c.cur].s.Error(keep{d}, msg) }

// keep is the driver a chain's stages see: a stage that has finished its
// jobs stops its driver (spark does), which would end the whole chain, so
// Stop is swallowed.
type keep struct{ mezzo.Driver }

func (keep) Stop(bool) error { return nil }

// greedy is the model experiment's elastic framework: it launches its tasks
// (durations given in order) on whatever it is offered, as many per offer as
// fit, and finishes when all have. It holds nothing it cannot use.
type greedy struct {
	name      string
	res       mezzo.Resources
	durations []time.Duration
	// notBefore delays the framework's arrival: offers before it are
	// declined for the remaining time.
	notBefore time.Duration
	// durationAt, when set, gives a task's duration from the launch time
	// instead of durations (the background's residual lives).
	durationAt func(i int, now time.Time) time.Duration

	origin    time.Time
	next      int
	finished  int
	started   bool
	suppress  bool
	firstTask time.Time
	lastEnd   time.Time
}

func (g *greedy) Done() bool { return g.finished == len(g.durations) }

func (g *greedy) Registered(d mezzo.Driver, _ mezzo.FrameworkID) {
	if g.started {
		return
	}
	g.started = true
	g.origin = d.Now()
}

func (g *greedy) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	now := d.Now()
	if wait := g.origin.Add(g.notBefore).Sub(now); wait > 0 {
		for _, o := range offers {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: wait})
		}
		return
	}
	for _, o := range offers {
		var tasks []mezzo.TaskInfo
		avail := o.Resources
		for g.next < len(g.durations) && avail.Contains(g.res) {
			dur := g.durations[g.next]
			if g.durationAt != nil {
				dur = g.durationAt(g.next, now)
			}
			tasks = append(tasks, mezzo.TaskInfo{
				ID: mezzo.TaskID(fmt.Sprintf("%s-%d", g.name, g.next)), Name: "work", AgentID: o.AgentID,
				Resources: g.res, Duration: dur, Labels: map[string]string{"job": "job"},
			})
			avail = avail.Sub(g.res)
			g.next++
		}
		if g.firstTask.IsZero() && len(tasks) > 0 {
			g.firstTask = now
		}
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{Refuse: time.Hour})
	}
	if g.next == len(g.durations) && !g.suppress {
		g.suppress = true
		_ = d.SuppressOffers()
	}
}

func (g *greedy) StatusUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	if st.State.Terminal() {
		g.finished++
		g.lastEnd = d.Now()
	}
}

func (g *greedy) OfferRescinded(mezzo.Driver, mezzo.OfferID)                             {}
func (g *greedy) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (g *greedy) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (g *greedy) Error(mezzo.Driver, string)                                             {}
