package master_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
)

// launchOne takes the next offer and launches one task on it.
func launchOne(t *testing.T, s *mastertest.Scheduler, agent *mastertest.FakeAgent, id string) {
	t.Helper()
	offers := s.TakeOffers(wait)
	if err := s.Accept(ids(offers[:1]), []mezzo.TaskInfo{task(id, "cpus:1;mem:128")}, mezzo.Filters{Refuse: -1}); err != nil {
		t.Fatal(err)
	}
	agent.WaitFor("the launch of "+id, wait, func(seen mastertest.AgentSeen) bool {
		for _, l := range seen.Launched {
			if l.Task.ID == mezzo.TaskID(id) {
				return true
			}
		}
		return false
	})
}

// runningT1 starts a master that pings every 50 ms and gives an agent up
// after 300 ms, one agent of total, and framework name with task t1
// running there.
func runningT1(t *testing.T, name, total string) (*master.Master, string, *mastertest.FakeAgent, *mastertest.Scheduler) {
	t.Helper()
	m, addr := startMaster(t, master.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: total})
	s := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: name})
	launchOne(t, s, agent, "t1")
	agent.Report(s.ID, "t1", mezzo.TaskRunning, "")
	if st := s.NextUpdate("t1", wait); st.State != mezzo.TaskRunning {
		t.Fatalf("t1 %s, want running", st.State)
	}
	return m, addr, agent, s
}

// returnsKilled brings agent back (same ID) still running task id of s,
// which the master has already said is lost: the master must tell it to
// kill the task and acknowledge the task's end, end, that it then sends.
func returnsKilled(t *testing.T, addr string, agent *mastertest.FakeAgent, s *mastertest.Scheduler, total string, id mezzo.TaskID, end mezzo.TaskState) {
	t.Helper()
	back := mastertest.StartAgent(t, addr, mastertest.AgentOptions{ID: agent.ID(), Secret: agent.Secret(), Hostname: "h1", Resources: total,
		Running: []*api.RunningTask{{FrameworkId: string(s.ID), Task: api.TaskToProto(task(string(id), "cpus:1;mem:128")), State: api.TaskState_TASK_RUNNING}}})
	back.WaitFor("the kill of "+string(id), wait, func(seen mastertest.AgentSeen) bool {
		return len(seen.Kills) == 1 && seen.Kills[0] == id
	})
	// A fresh fake agent numbers its UUIDs from 1 again: name this one.
	uuid := "after-return-" + string(id)
	back.Send(s.ID, mezzo.TaskStatus{TaskID: id, State: end, Message: "ended on the master's word", UUID: uuid})
	back.WaitFor(fmt.Sprintf("the master's acknowledgement of %s's %s", id, end), wait, func(seen mastertest.AgentSeen) bool {
		return slices.Contains(seen.Acks, uuid)
	})
}

func TestLostAgentTasksAreLostAndItMayComeBack(t *testing.T) {
	const total = "cpus:2;mem:512"
	m, addr, agent, s := runningT1(t, "lost", total)

	killed := time.Now()
	agent.Kill()
	st := s.NextUpdate("t1", wait)
	if st.State != mezzo.TaskLost || st.Reason != mezzo.ReasonAgentLost || st.AgentID != agent.ID() {
		t.Fatalf("t1 after its agent died: %s %s on %s; want TASK_LOST %s on %s", st.State, st.Reason, st.AgentID, mezzo.ReasonAgentLost, agent.ID())
	}
	if took := time.Since(killed); took > 300*time.Millisecond+time.Second {
		t.Errorf("TASK_LOST came %v after the agent died; ping timeout is 300ms", took)
	}
	s.Next("agent lost", wait, func(ev *api.SchedulerEvent) bool {
		return ev.GetFailure() != nil && ev.GetFailure().AgentId == string(agent.ID()) && ev.GetFailure().ExecutorId == ""
	})
	if snap := snapshot(t, m); snap.Totals.Agents != 0 || !snap.Totals.Used.IsEmpty() {
		t.Fatalf("after removal: %d agents, %s used; want none", snap.Totals.Agents, snap.Totals.Used)
	}

	// The restarted agent keeps its ID and is accepted again.
	back := mastertest.StartAgent(t, addr, mastertest.AgentOptions{ID: agent.ID(), Secret: agent.Secret(), Hostname: "h1", Resources: total})
	if back.ID() != agent.ID() {
		t.Fatalf("re-registered as %s, want %s", back.ID(), agent.ID())
	}
	offers := s.NextOffers(wait)
	if offers[0].AgentID != agent.ID() {
		t.Fatalf("offer from %s, want the returned agent %s", offers[0].AgentID, agent.ID())
	}
	waitSettled(t, m, total)
}

// An agent that comes back after the master gave it up still runs the task
// the framework was told is lost: the master has the agent kill it and
// keeps the framework's one terminal state (no RUNNING, no KILLED after LOST).
func TestRemovedAgentsTasksStayEnded(t *testing.T) {
	const total = "cpus:2;mem:512"
	m, addr, agent, s := runningT1(t, "gone", total)
	agent.Kill()
	if st := s.NextUpdate("t1", wait); st.State != mezzo.TaskLost {
		t.Fatalf("t1 after its agent was removed: %s, want TASK_LOST", st.State)
	}

	returnsKilled(t, addr, agent, s, total, "t1", mezzo.TaskKilled)
	// The agent's resources are all free again: t1 was not adopted.
	waitSettled(t, m, total)
	// Instead of the agent's TASK_KILLED the framework hears the master's
	// TASK_LOST again (it may have missed it), then nothing else: a
	// reconciliation answer comes behind anything forwarded before it.
	if st := s.NextUpdate("t1", wait); st.State != mezzo.TaskLost || st.Reason != mezzo.ReasonAgentLost {
		t.Fatalf("after the agent's late TASK_KILLED the framework heard %s %s of t1; want the master's TASK_LOST %s again", st.State, st.Reason, mezzo.ReasonAgentLost)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := s.Client.Reconcile(ctx, &api.ReconcileRequest{Header: s.Header(), Tasks: []*api.ReconcileRequest_Task{{TaskId: "t1"}}}); err != nil {
		t.Fatal(err)
	}
	if st := s.NextUpdate("t1", wait); st.State != mezzo.TaskLost || st.Reason != mezzo.ReasonReconciliation {
		t.Fatalf("after TASK_LOST the framework heard %s %s of t1; want only the reconciliation's TASK_LOST", st.State, st.Reason)
	}
}

func TestReRegistrationWithTasksKeepsThem(t *testing.T) {
	const total = "cpus:2;mem:512"
	m, addr := startMaster(t, master.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 2 * time.Second})
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: total})
	s := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "stay"})
	launchOne(t, s, agent, "keep")
	launchOne(t, s, agent, "drop")
	agent.Kill()
	// Back before the ping timeout, still running "keep" but not "drop".
	back := mastertest.StartAgent(t, addr, mastertest.AgentOptions{ID: agent.ID(), Secret: agent.Secret(), Hostname: "h1", Resources: total,
		Running: []*api.RunningTask{{FrameworkId: string(s.ID), Task: api.TaskToProto(task("keep", "cpus:1;mem:128")), State: api.TaskState_TASK_RUNNING}}})
	st := s.NextUpdate("drop", wait)
	if st.State != mezzo.TaskLost || st.Reason != mezzo.ReasonAgentRestarted {
		t.Fatalf("drop: %s %s; want TASK_LOST %s", st.State, st.Reason, mezzo.ReasonAgentRestarted)
	}
	snap := snapshot(t, m)
	if want := mezzo.MustParseResources("cpus:1;mem:128"); !snap.Totals.Used.Equal(want) {
		t.Fatalf("used after re-registration: %s, want keep's %s", snap.Totals.Used, want)
	}
	back.Report(s.ID, "keep", mezzo.TaskFinished, "")
	waitSettled(t, m, total)
}

func TestUpdatesAcksKillReconcileTeardown(t *testing.T) {
	const total = "cpus:2;mem:512"
	m, addr := startMaster(t, master.Config{})
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: total})
	s := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "acks"})
	launchOne(t, s, agent, "t1")

	// An update is forwarded with its uuid; the ack goes back to the agent.
	uuid := agent.Report(s.ID, "t1", mezzo.TaskRunning, "")
	if st := s.NextUpdate("t1", wait); st.UUID != uuid || st.State != mezzo.TaskRunning {
		t.Fatalf("forwarded %s uuid %q; want TASK_RUNNING uuid %q", st.State, st.UUID, uuid)
	}
	ctx := t.Context()
	if _, err := s.Client.Acknowledge(ctx, &api.AcknowledgeRequest{Header: s.Header(), AgentId: string(agent.ID()), TaskId: "t1", Uuid: uuid}); err != nil {
		t.Fatal(err)
	}
	agent.WaitFor("the acknowledgement", wait, func(seen mastertest.AgentSeen) bool { return len(seen.Acks) == 1 && seen.Acks[0] == uuid })

	// A stale stream ID is refused.
	if _, err := s.Client.Revive(ctx, &api.ReviveRequest{Header: &api.CallHeader{FrameworkId: string(s.ID), StreamId: "old"}}); err == nil {
		t.Fatal("revive with a stale stream ID succeeded")
	}

	// Kill goes to the agent; unknown tasks are answered by the master.
	if _, err := s.Client.Kill(ctx, &api.KillRequest{Header: s.Header(), TaskId: "t1"}); err != nil {
		t.Fatal(err)
	}
	agent.WaitFor("the kill", wait, func(seen mastertest.AgentSeen) bool { return len(seen.Kills) == 1 && seen.Kills[0] == "t1" })
	if _, err := s.Client.Kill(ctx, &api.KillRequest{Header: s.Header(), TaskId: "ghost"}); err != nil {
		t.Fatal(err)
	}
	if st := s.NextUpdate("ghost", wait); st.State != mezzo.TaskLost || st.Reason != mezzo.ReasonTaskUnknown {
		t.Fatalf("kill of an unknown task: %s %s", st.State, st.Reason)
	}

	// Implicit reconciliation answers with the latest state, no uuid.
	if _, err := s.Client.Reconcile(ctx, &api.ReconcileRequest{Header: s.Header()}); err != nil {
		t.Fatal(err)
	}
	if st := s.NextUpdate("t1", wait); st.State != mezzo.TaskRunning || st.Reason != mezzo.ReasonReconciliation || st.UUID != "" {
		t.Fatalf("reconciled t1: %s %s uuid %q", st.State, st.Reason, st.UUID)
	}

	// A terminal update sent twice (a resend) is applied once.
	fin := mezzo.TaskStatus{TaskID: "t1", State: mezzo.TaskKilled, UUID: "fin-1"}
	agent.Send(s.ID, fin)
	agent.Send(s.ID, fin)
	for range 2 {
		if st := s.NextUpdate("t1", wait); st.State != mezzo.TaskKilled || st.UUID != "fin-1" {
			t.Fatalf("t1: %s %q, want the killed update twice", st.State, st.UUID)
		}
	}
	waitSettled(t, m, total)

	// Teardown: live tasks killed on the agent, everything back.
	launchOne(t, s, agent, "t2")
	if _, err := s.Client.Teardown(ctx, &api.TeardownRequest{Header: s.Header()}); err != nil {
		t.Fatal(err)
	}
	agent.WaitFor("the framework shutdown", wait, func(seen mastertest.AgentSeen) bool { return len(seen.Shutdown) == 1 && seen.Shutdown[0] == s.ID })
	snap := waitSettled(t, m, total)
	if snap.Totals.Frameworks != 0 {
		t.Fatalf("%d frameworks after teardown", snap.Totals.Frameworks)
	}
	// Late updates of the removed framework are acknowledged for it.
	agent.Send(s.ID, mezzo.TaskStatus{TaskID: "t2", State: mezzo.TaskKilled, UUID: "late"})
	agent.WaitFor("the master's ack of a removed framework's update", wait, func(seen mastertest.AgentSeen) bool {
		return seen.Acks[len(seen.Acks)-1] == "late"
	})
}

// A TASK_LOST the master answers for a task it does not know is final: an
// agent that turns up with the task later (a launch from a leader that
// died, say) is told to kill it, and the framework hears that TASK_LOST
// again instead of the agent's end. Both ways back: a re-registration
// within the ping timeout, and a return after the agent was removed.
func TestUnknownTaskAnsweredLostStaysLost(t *testing.T) {
	for _, removed := range []bool{false, true} {
		t.Run(fmt.Sprintf("removed=%v", removed), func(t *testing.T) {
			const total = "cpus:2;mem:512"
			timeout := 5 * time.Second
			if removed {
				timeout = 300 * time.Millisecond
			}
			m, addr := startMaster(t, master.Config{PingInterval: 50 * time.Millisecond, PingTimeout: timeout})
			agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: total})
			s := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "ghosts"})
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if _, err := s.Client.Reconcile(ctx, &api.ReconcileRequest{Header: s.Header(),
				Tasks: []*api.ReconcileRequest_Task{{TaskId: "ghost", AgentId: string(agent.ID())}}}); err != nil {
				t.Fatal(err)
			}
			if st := s.NextUpdate("ghost", wait); st.State != mezzo.TaskLost || st.Reason != mezzo.ReasonReconciliation {
				t.Fatalf("reconciliation of an unknown task: %s %s; want TASK_LOST %s", st.State, st.Reason, mezzo.ReasonReconciliation)
			}
			agent.Kill()
			if removed {
				for deadline := time.Now().Add(wait); len(snapshot(t, m).Agents) > 0; time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the agent was not removed after its ping timeout")
					}
				}
			}
			returnsKilled(t, addr, agent, s, total, "ghost", mezzo.TaskFinished)
			if st := s.NextUpdate("ghost", wait); st.State != mezzo.TaskLost {
				t.Fatalf("after the agent's late TASK_FINISHED the framework heard %s of ghost; want the master's TASK_LOST again", st.State)
			}
			waitSettled(t, m, total) // ghost was not adopted
		})
	}
}
