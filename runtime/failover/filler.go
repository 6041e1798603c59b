package failover

import (
	"fmt"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// filler is a framework that launches want long tasks (cpus 1, mem 512)
// and then declines everything.
type filler struct {
	name string
	want int

	mu       sync.Mutex
	launched int
	running  map[mezzo.TaskID]bool
}

var taskRes = mezzo.MustParseResources("cpus:1;mem:512")

func (f *filler) Registered(mezzo.Driver, mezzo.FrameworkID) {}

func (f *filler) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range offers {
		var tasks []mezzo.TaskInfo
		left := o.Resources
		for f.launched < f.want && left.Contains(taskRes) {
			tasks = append(tasks, mezzo.TaskInfo{ID: mezzo.TaskID(fmt.Sprintf("%s-t%06d", f.name, f.launched)), Resources: taskRes, Duration: 24 * time.Hour})
			left = left.Sub(taskRes)
			f.launched++
		}
		if len(tasks) == 0 {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Hour})
			continue
		}
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{Refuse: time.Hour})
	}
}

func (f *filler) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

func (f *filler) StatusUpdate(_ mezzo.Driver, s mezzo.TaskStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running == nil {
		f.running = map[mezzo.TaskID]bool{}
	}
	f.running[s.TaskID] = s.State == mezzo.TaskRunning
}

func (f *filler) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (f *filler) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (f *filler) Error(mezzo.Driver, string)                                             {}
