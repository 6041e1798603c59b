package agent

import (
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// A command from a master older than the one the agent registered with
// (a deposed leader) is refused; one from the current epoch runs.
func TestCommandsFromAnOlderMasterEpochAreRefused(t *testing.T) {
	m := startFakeMaster(t, true)
	m.epoch = 5
	a, stop := startAgent(t, m, Config{Emulated: true})
	defer stop()
	<-m.subscribes
	deadline := time.Now().Add(5 * time.Second)
	for a.Epoch() != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("agent epoch %d; want 5 after registering with epoch 5", a.Epoch())
		}
		time.Sleep(5 * time.Millisecond)
	}
	res := mezzo.MustParseResources("cpus:0.1;mem:8")
	stale := launchEvent1("fw", mezzo.TaskInfo{ID: "stale", Resources: res, Duration: time.Hour})
	stale.GetLaunchTasks().MasterEpoch = 4
	m.events <- stale
	fresh := launchEvent1("fw", mezzo.TaskInfo{ID: "fresh", Resources: res, Duration: time.Hour})
	fresh.GetLaunchTasks().MasterEpoch = 5
	m.events <- fresh
	if st := m.nextUpdate(t, "fresh"); st.State != mezzo.TaskRunning {
		t.Fatalf("task of the current epoch: %v; want TASK_RUNNING", st.State)
	}
	// Events are handled in order: had the stale launch run, its update
	// would have come before fresh's.
	select {
	case u := <-m.updates:
		t.Fatalf("update %v for %s; the stale launch must not run", u.status.State, u.status.TaskID)
	default:
	}
	kill := killEvent("fw", "fresh")
	kill.GetKillTask().MasterEpoch = 3
	m.events <- kill
	m.events <- &api.AgentEvent{Event: &api.AgentEvent_Ping_{Ping: &api.AgentEvent_Ping{Seq: 1}}}
	select {
	case u := <-m.updates:
		if u.status.TaskID == "fresh" {
			t.Fatalf("a kill from epoch 3 ended the task: %v", u.status.State)
		}
	case <-time.After(200 * time.Millisecond):
	}
}
