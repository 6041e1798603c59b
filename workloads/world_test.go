package workloads

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/workloads/internal/fakedriver"
)

// miniMaster is a toy world for one framework over the fake driver: every
// second it offers each agent's free resources (unless suppressed), runs
// launched tasks (custom executors in process, others for their Duration),
// and answers kills. It checks no agent is ever over-committed.
type miniMaster struct {
	t       *testing.T
	fw      *Framework
	d       *fakedriver.FakeDriver
	free    map[mezzo.AgentID]mezzo.Resources
	agents  []mezzo.AgentID
	running map[mezzo.TaskID]mezzo.TaskInfo
	timers  map[mezzo.TaskID]mezzo.Timer
	offers  int
	seen    int
	kills   int
}

func newMiniMaster(t *testing.T, fw *Framework, agents int, node mezzo.Resources) *miniMaster {
	m := &miniMaster{t: t, fw: fw, d: fakedriver.New(time.Unix(0, 0).UTC()), free: map[mezzo.AgentID]mezzo.Resources{},
		running: map[mezzo.TaskID]mezzo.TaskInfo{}, timers: map[mezzo.TaskID]mezzo.Timer{}}
	for i := 0; i < agents; i++ {
		a := mezzo.AgentID(fmt.Sprintf("a%d", i))
		m.agents = append(m.agents, a)
		m.free[a] = node
	}
	fw.Scheduler.Registered(m.d, "fw")
	return m
}

func (m *miniMaster) end(task mezzo.TaskInfo, st mezzo.TaskStatus) {
	if _, ok := m.running[task.ID]; !ok {
		return
	}
	delete(m.running, task.ID)
	m.free[task.AgentID] = m.free[task.AgentID].Add(task.Resources)
	st.AgentID = task.AgentID
	m.fw.Scheduler.StatusUpdate(m.d, st)
}

func (m *miniMaster) tick() {
	if !m.d.Suppressed && !m.d.Stopped {
		var os []mezzo.Offer
		for _, a := range m.agents {
			if m.free[a].ScalarPart().IsEmpty() {
				continue
			}
			m.offers++
			o := fakedriver.Offer(fmt.Sprint("o", m.offers), string(a), m.free[a])
			os = append(os, o)
		}
		m.fw.Scheduler.ResourceOffers(m.d, os)
	}
	for ; m.seen < len(m.d.Launches); m.seen++ {
		for _, task := range m.d.Launches[m.seen].Tasks {
			if !m.free[task.AgentID].Contains(task.Resources) {
				m.t.Fatalf("task %s over-commits agent %s", task.ID, task.AgentID)
			}
			m.free[task.AgentID] = m.free[task.AgentID].Sub(task.Resources)
			m.running[task.ID] = task
			m.fw.Scheduler.StatusUpdate(m.d, mezzo.TaskStatus{TaskID: task.ID, AgentID: task.AgentID, State: mezzo.TaskRunning})
			if task.Executor != nil {
				ed := &collectingExecutorDriver{}
				InlineExecutors()[task.Executor.Kind]().LaunchTask(ed, task)
				for _, st := range ed.updates {
					if st.State.Terminal() {
						m.end(task, st)
					}
				}
				continue
			}
			m.timers[task.ID] = m.d.AfterFunc(task.Duration, func() {
				m.end(task, mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskFinished})
			})
		}
	}
	for ; m.kills < len(m.d.Kills); m.kills++ {
		id := m.d.Kills[m.kills]
		if task, ok := m.running[id]; ok {
			m.timers[id].Stop()
			m.end(task, mezzo.TaskStatus{TaskID: id, State: mezzo.TaskKilled})
		}
	}
	m.d.Advance(time.Second)
}

type collectingExecutorDriver struct{ updates []mezzo.TaskStatus }

func (c *collectingExecutorDriver) SendStatusUpdate(s mezzo.TaskStatus) error {
	c.updates = append(c.updates, s)
	return nil
}
func (c *collectingExecutorDriver) SendFrameworkMessage([]byte) error { return nil }
func (c *collectingExecutorDriver) Stop() error                       { return nil }

// TestEveryFrameworkFinishesInAToyWorld runs each registered framework with
// small flags to completion and checks its job records.
func TestEveryFrameworkFinishesInAToyWorld(t *testing.T) {
	node := mezzo.Cpus(4).Add(mezzo.MemMB(8192))
	opts := Options{Seed: 1, Agents: 8, AgentResources: node}
	args := map[string][]string{
		"pi":      {"-tasks", "12", "-samples", "20000"},
		"mpi":     {"-jobs", "3", "-tasks", "4", "-duration", "20s"},
		"torque":  {"-jobs", "3", "-tasks", "2", "-duration", "20s"},
		"service": {"-load", "0s:3,30s:9,60s:2,90s:0"},
		"spark":   {"-jobs", "2", "-iterations", "3", "-partitions", "10", "-first", "10s"},
	}
	names := make([]string, 0)
	for n := range Schedulers() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		a, ok := args[name]
		if !ok {
			continue // a framework this test does not know yet (hadoop)
		}
		fw, err := Schedulers()[name].New(opts, a)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m := newMiniMaster(t, fw, opts.Agents, node)
		for i := 0; i < 2000 && !fw.Done(); i++ {
			m.tick()
		}
		if !fw.Done() || !m.d.Stopped {
			t.Errorf("%s: not done after 2000 s (%s)", name, fw.Summary())
			continue
		}
		for _, j := range fw.Jobs() {
			if j.Finish.IsZero() || j.Start.Before(j.Submit) || j.Finish.Before(j.Start) || j.Tasks == 0 {
				t.Errorf("%s: job record %+v", name, j)
			}
		}
		t.Logf("%s: %s", name, fw.Summary())
	}
}
