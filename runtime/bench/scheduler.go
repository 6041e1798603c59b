package bench

import (
	"fmt"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// launcher is the benchmark's framework: it fills every offer with as many
// no-op tasks as fit until it has launched its quota, then suppresses
// offers and declines whatever still arrives. Its callbacks run serially
// (mezzo.Scheduler contract); only the recorder is shared.
type launcher struct {
	name     string
	quota    int
	need     mezzo.Resources
	duration time.Duration
	// sample, when set, draws each task's duration instead.
	sample func() time.Duration
	rec    *recorder

	launched   int
	suppressed bool
}

var _ mezzo.Scheduler = (*launcher)(nil)

func (l *launcher) Registered(mezzo.Driver, mezzo.FrameworkID) {}

func (l *launcher) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	now := time.Now()
	for _, o := range offers {
		l.rec.offered(o, now)
	}
	for _, o := range offers {
		n := fits(o.Resources, l.need, l.quota-l.launched)
		if n == 0 {
			// Nothing fits or nothing is left to launch. The default
			// filter keeps a useless remainder from bouncing straight
			// back; an agent whose tasks end is offered again regardless,
			// since it then has more than the filtered remainder.
			l.note(d.DeclineOffer(o.ID, mezzo.Filters{}), "decline")
			continue
		}
		tasks := make([]mezzo.TaskInfo, n)
		ids := make([]mezzo.TaskID, n)
		for i := range tasks {
			l.launched++
			ids[i] = mezzo.TaskID(fmt.Sprintf("%s-%d", l.name, l.launched))
			dur := l.duration
			if l.sample != nil {
				dur = l.sample()
			}
			tasks[i] = mezzo.TaskInfo{ID: ids[i], Name: "noop", AgentID: o.AgentID, Resources: l.need, Duration: dur}
		}
		l.rec.launching(ids, time.Now())
		l.note(d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{}), "launch")
	}
	if l.launched >= l.quota && !l.suppressed {
		l.suppressed = true
		l.note(d.SuppressOffers(), "suppress")
	}
}

func (l *launcher) note(err error, what string) {
	if err != nil {
		l.rec.fail(fmt.Sprintf("%s: %s: %v", l.name, what, err))
	}
}

func (l *launcher) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

func (l *launcher) StatusUpdate(_ mezzo.Driver, st mezzo.TaskStatus) {
	l.rec.update(st, time.Now())
}

func (l *launcher) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}

func (l *launcher) AgentLost(mezzo.Driver, mezzo.AgentID) {}

func (l *launcher) Error(_ mezzo.Driver, msg string) {
	l.note(fmt.Errorf("%s", msg), "master error")
}
