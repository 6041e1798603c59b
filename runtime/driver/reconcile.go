package driver

import (
	"sort"
	"sync"

	"github.com/mezzo-cluster/mezzo"
)

// Reconciliation after re-subscription (Config.Reconcile). A launch sent
// to a leader that died before passing it on, or in a call that broke on
// the way, is never heard of again unless the framework asks: the new
// leader answers TASK_LOST for a task it does not know, once every agent
// that may run it is back, and that answer is final. With Reconcile the
// driver asks for its scheduler, naming each task it launched and has not
// delivered an end for, with the agent it was launched on. Answers arrive
// as ordinary status updates with REASON_RECONCILIATION; a scheduler that
// ignores updates it has no news in (the bundled ones do) needs no change.

// openTasks are the tasks launched and not seen to end, with their agents.
// Schedulers need not name the agent in a TaskInfo (the offer does), so
// the agents of outstanding offers are kept too.
type openTasks struct {
	mu     sync.Mutex
	agent  map[mezzo.TaskID]mezzo.AgentID
	offers map[mezzo.OfferID]mezzo.AgentID
}

func newOpenTasks() *openTasks {
	return &openTasks{agent: map[mezzo.TaskID]mezzo.AgentID{}, offers: map[mezzo.OfferID]mezzo.AgentID{}}
}

// offered notes where offers are.
func (o *openTasks) offered(offers []mezzo.Offer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, of := range offers {
		o.offers[of.ID] = of.AgentID
	}
}

// answered forgets offers accepted, declined or rescinded; all, with none
// named (a new subscription voids every earlier offer).
func (o *openTasks) answered(ids ...mezzo.OfferID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ids == nil {
		clear(o.offers)
	}
	for _, id := range ids {
		delete(o.offers, id)
	}
}

func (o *openTasks) launched(offers []mezzo.OfferID, ts []mezzo.TaskInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var at mezzo.AgentID
	if len(offers) > 0 {
		at = o.offers[offers[0]]
	}
	for _, id := range offers {
		delete(o.offers, id)
	}
	for _, t := range ts {
		if t.AgentID != "" {
			o.agent[t.ID] = t.AgentID
		} else {
			o.agent[t.ID] = at
		}
	}
}

// ended forgets tasks (a terminal update was delivered, or the launch was
// never sent).
func (o *openTasks) ended(ids ...mezzo.TaskID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range ids {
		delete(o.agent, id)
	}
}

// list is what to reconcile, by task ID.
func (o *openTasks) list() []mezzo.TaskStatus {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]mezzo.TaskStatus, 0, len(o.agent))
	for id, ag := range o.agent {
		out = append(out, mezzo.TaskStatus{TaskID: id, AgentID: ag})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskID < out[j].TaskID })
	return out
}

// reconcileOpen asks the master about every open task; run on the
// dispatcher after Registered.
func (d *Driver) reconcileOpen() {
	ts := d.open.list()
	if len(ts) == 0 {
		return
	}
	d.log.Info("reconciling the tasks launched before re-subscribing", "tasks", len(ts))
	if err := d.ReconcileTasks(ts); err != nil {
		d.log.Warn("reconciliation not sent; it is sent again on the next re-subscription", "err", err)
	}
}
