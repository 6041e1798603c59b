package failover

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// filler is a framework that launches want long tasks (cpus 1, mem 512)
// and then declines everything. A task that ends (lost in a leader change
// during the fill, say) is replaced, so the cluster fills whatever
// happens on the way; ended counts them, so a run can tell whether the
// failover lost any.
type filler struct {
	name string
	want int

	mu       sync.Mutex
	launched int // launched and not ended
	seq      int
	ended    int
	running  map[mezzo.TaskID]bool
	pending  map[mezzo.TaskID]bool // launched, no update yet
}

var taskRes = mezzo.MustParseResources("cpus:1;mem:512")

// Registered (also after a re-subscription) asks, a little later, for
// the state of tasks launched without an update since: a launch that a
// leader accepted just before it died never reached an agent, and only
// reconciliation tells the framework so (TASK_LOST), as in Mesos.
func (f *filler) Registered(d mezzo.Driver, _ mezzo.FrameworkID) {
	d.AfterFunc(3*time.Second, func() {
		f.mu.Lock()
		var ask []mezzo.TaskStatus
		for id := range f.pending {
			ask = append(ask, mezzo.TaskStatus{TaskID: id})
		}
		f.mu.Unlock()
		sort.Slice(ask, func(i, j int) bool { return ask[i].TaskID < ask[j].TaskID })
		if len(ask) > 0 {
			_ = d.ReconcileTasks(ask)
		}
	})
}

func (f *filler) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range offers {
		var tasks []mezzo.TaskInfo
		left := o.Resources
		for f.launched < f.want && left.Contains(taskRes) {
			id := mezzo.TaskID(fmt.Sprintf("%s-t%06d", f.name, f.seq))
			if f.pending == nil {
				f.pending = map[mezzo.TaskID]bool{}
			}
			f.pending[id] = true
			tasks = append(tasks, mezzo.TaskInfo{ID: id, Resources: taskRes, Duration: 24 * time.Hour})
			left = left.Sub(taskRes)
			f.launched++
			f.seq++
		}
		if len(tasks) == 0 {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Hour})
			continue
		}
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{Refuse: time.Hour})
	}
}

func (f *filler) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

func (f *filler) StatusUpdate(d mezzo.Driver, s mezzo.TaskStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running == nil {
		f.running = map[mezzo.TaskID]bool{}
	}
	delete(f.pending, s.TaskID)
	if was, ok := f.running[s.TaskID]; s.State.Terminal() && (!ok || was) {
		f.running[s.TaskID] = false
		f.launched--
		f.ended++
		_ = d.ReviveOffers() // the declines refused for an hour
		return
	}
	if !s.State.Terminal() {
		f.running[s.TaskID] = true
	}
}

func (f *filler) endedTasks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended
}

func (f *filler) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (f *filler) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (f *filler) Error(mezzo.Driver, string)                                             {}
