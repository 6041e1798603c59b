package mpi

import (
	"fmt"
	"slices"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// daemonLife is a node daemon's modelled duration: daemons end when the
// scheduler kills them (or the framework stops), never on their own, so
// the duration only has to outlast any run. A year stays far from
// time.Duration's overflow when the simulator adds it to the clock.
const daemonLife = 365 * 24 * time.Hour

// daemon is a node daemon of AcquireNodes mode (Torque's pbs_mom): a task
// that keeps one task slot on its agent until killed, so the job's tasks
// can later run inside it.
type daemon struct {
	id     mezzo.TaskID
	agent  mezzo.AgentID
	res    mezzo.Resources
	job    *jobState // the job it was acquired for or runs; nil when idle
	ending bool      // a kill was sent
}

// acquire is ResourceOffers in AcquireNodes mode. The paper's Torque
// framework accepted offers as they came, up to its cap, launching a
// pbs_mom on each node it got, and started the job once it had all its
// nodes; it did not hold offers unused and give them back on a timeout.
// So a partial gang keeps its nodes (they count as used, as they did on
// Mesos) and waits only for the nodes still missing.
func (s *Scheduler) acquire(d mezzo.Driver, offers []mezzo.Offer) {
	for _, o := range offers {
		var tasks []mezzo.TaskInfo
		if len(s.queue) > 0 {
			tasks = s.daemonsFor(s.queue[0], o)
		}
		if len(tasks) == 0 {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: s.cfg.RetryAfter})
			continue
		}
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{})
	}
	s.startReady(d)
}

// daemonsFor launches on o as many daemons as j still misses, within the
// per-agent limit and the cap.
func (s *Scheduler) daemonsFor(j *jobState, o mezzo.Offer) []mezzo.TaskInfo {
	need := j.Tasks - s.gathered(j)
	if need <= 0 {
		return nil
	}
	onThis := 0
	for _, dm := range s.daemons {
		if dm.job == j && dm.agent == o.AgentID {
			onThis++
		}
	}
	var tasks []mezzo.TaskInfo
	avail := o.Resources
	for len(tasks) < need && avail.Contains(j.TaskResources) {
		if s.cfg.MaxTasksPerAgent > 0 && onThis+len(tasks) >= s.cfg.MaxTasksPerAgent {
			break
		}
		if !s.capRes.Contains(s.inUse.Add(j.TaskResources).ScalarPart()) {
			break
		}
		id := mezzo.TaskID(fmt.Sprintf("%s-node-%d", s.cfg.Name, s.daemonSeq()))
		tasks = append(tasks, mezzo.TaskInfo{
			ID: id, Name: fmt.Sprintf("%s node daemon", s.cfg.Name), AgentID: o.AgentID,
			Resources: j.TaskResources, Duration: daemonLife,
			Labels: map[string]string{"job": j.ID, "role": "node-daemon"},
		})
		s.daemons = append(s.daemons, &daemon{id: id, agent: o.AgentID, res: j.TaskResources, job: j})
		s.inUse = s.inUse.Add(j.TaskResources)
		avail = avail.Sub(j.TaskResources)
	}
	return tasks
}

func (s *Scheduler) daemonSeq() int {
	s.launchedDaemons++
	return s.launchedDaemons
}

// gathered is how many live daemons serve j.
func (s *Scheduler) gathered(j *jobState) int {
	n := 0
	for _, dm := range s.daemons {
		if dm.job == j && !dm.ending {
			n++
		}
	}
	return n
}

// startReady starts the head job while it has all its nodes, hands idle
// daemons to the next one, and kills the daemons nobody needs.
func (s *Scheduler) startReady(d mezzo.Driver) {
	for len(s.queue) > 0 {
		j := s.queue[0]
		s.adoptIdle(j)
		if s.gathered(j) < j.Tasks {
			break
		}
		s.queue = s.queue[1:]
		j.res.Attempts++
		if j.res.Start.IsZero() {
			j.res.Start = d.Now()
		}
		j.running = true
		attempt := j.res.Attempts
		j.runTimer = d.AfterFunc(j.Duration, func() { s.finishRun(d, j, attempt) })
	}
	s.killIdle(d)
	if len(s.queue) == 0 {
		s.suppress(d)
	} else {
		s.revive(d)
	}
}

// adoptIdle gives j the idle daemons it can run in.
func (s *Scheduler) adoptIdle(j *jobState) {
	for _, dm := range s.daemons {
		if s.gathered(j) >= j.Tasks {
			return
		}
		if dm.job != nil || dm.ending || !dm.res.Contains(j.TaskResources) {
			continue
		}
		if s.cfg.MaxTasksPerAgent > 0 {
			n := 0
			for _, o := range s.daemons {
				if o.job == j && o.agent == dm.agent && !o.ending {
					n++
				}
			}
			if n >= s.cfg.MaxTasksPerAgent {
				continue
			}
		}
		dm.job = j
	}
}

func (s *Scheduler) killIdle(d mezzo.Driver) {
	for _, dm := range s.daemons {
		if dm.job == nil && !dm.ending {
			dm.ending = true
			_ = d.KillTask(dm.id)
		}
	}
}

// finishRun ends a job's attempt after its Duration: the job is complete
// and its daemons are free for the next job.
func (s *Scheduler) finishRun(d mezzo.Driver, j *jobState, attempt int) {
	if !j.running || attempt != j.res.Attempts {
		return
	}
	j.running, j.runTimer = false, nil
	j.completed = true
	j.finished = j.Tasks
	j.res.Finish = d.Now()
	s.completed++
	for _, dm := range s.daemons {
		if dm.job == j {
			dm.job = nil
		}
	}
	if s.Done() {
		// Stopping ends every daemon.
		_ = d.Stop(false)
		return
	}
	s.startReady(d)
}

// daemonUpdate is StatusUpdate in AcquireNodes mode. A daemon that ends
// without being killed (its agent was lost, it failed) takes its node from
// its job: a running job cannot go on short-handed, so it goes back to the
// head of the queue and gathers the missing node; its other daemons stay.
func (s *Scheduler) daemonUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	if !st.State.Terminal() {
		return
	}
	i := slices.IndexFunc(s.daemons, func(dm *daemon) bool { return dm.id == st.TaskID })
	if i < 0 {
		return
	}
	dm := s.daemons[i]
	s.daemons = slices.Delete(s.daemons, i, i+1)
	s.inUse = s.inUse.Sub(dm.res)
	j := dm.job
	if dm.ending || j == nil || j.completed {
		return
	}
	if j.running {
		j.running = false
		j.runTimer.Stop()
		j.runTimer = nil
		// Only the head gathers: nodes gathered by the job behind are
		// handed to this one first, so the two cannot block each other
		// under the cap.
		for _, o := range s.daemons {
			if o.job != nil && o.job != j {
				if slices.Contains(s.queue, o.job) {
					o.job = nil
				}
			}
		}
		s.queue = append([]*jobState{j}, s.queue...)
	}
	s.startReady(d)
}
