package master_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// frameworkOf finds a framework in a snapshot.
func frameworkOf(s master.Snapshot, id mezzo.FrameworkID) (master.FrameworkSnapshot, bool) {
	for _, f := range s.Frameworks {
		if f.ID == id {
			return f, true
		}
	}
	return master.FrameworkSnapshot{}, false
}

// An agent's report is held to the bounds a scheduler's word is: the
// frameworks and tasks out of bounds are ignored, the rest of the
// registration applied (its valid task adopted).
func TestAgentReportOutOfBoundsIgnored(t *testing.T) {
	m, addr := startMaster(t, master.Config{})
	good := mezzo.FrameworkInfo{ID: "fw-good", Name: "g", FailoverTimeout: time.Hour}
	bad := mezzo.FrameworkInfo{ID: "fw-bad", Name: strings.Repeat("n", api.MaxNameBytes+1), FailoverTimeout: time.Hour}
	big := runningTask(good.ID, "t-big")
	big.Task.Data = make([]byte, api.MaxTaskDataBytes+1)
	badExec := runningTask(good.ID, "t-bad-executor")
	badExec.ExecutorId = "../x"
	a := mastertest.StartAgent(t, addr, mastertest.AgentOptions{ID: "m0-A0001", Hostname: "h", Resources: "cpus:8;mem:1024",
		Frameworks: []mezzo.FrameworkInfo{good, bad},
		Running: []*api.RunningTask{runningTask(good.ID, "t-ok"), runningTask(good.ID, "a/b"), big, badExec,
			runningTask(bad.ID, "t-of-bad")}})
	s := snapshot(t, m)
	if _, ok := frameworkOf(s, bad.ID); ok {
		t.Errorf("the framework with a %d-byte name was rebuilt from the agent's report", len(bad.Name))
	}
	if f, ok := frameworkOf(s, good.ID); !ok || f.LiveTasks != 1 {
		t.Errorf("framework %s after the report: %+v (found %v), want it rebuilt with its one valid task", good.ID, f, ok)
	}
	if len(s.Agents) != 1 || s.Agents[0].ID != a.ID() || s.Agents[0].LiveTasks != 1 {
		t.Errorf("agents after the report: %+v, want %s with the one valid task", s.Agents, a.ID())
	}
}

// An agent registering for the first time (no agent ID) cannot run
// anything a master launched: what it reports is ignored, so it can
// neither plant tasks in a registered framework nor invent frameworks.
func TestFirstRegistrationReportIgnored(t *testing.T) {
	m, addr := startMaster(t, master.Config{})
	sched := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "real"})
	made := mezzo.FrameworkInfo{ID: "fw-made-up", Name: "x", FailoverTimeout: time.Hour}
	mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:8;mem:1024",
		Frameworks: []mezzo.FrameworkInfo{made},
		Running:    []*api.RunningTask{runningTask(sched.ID, "planted"), runningTask(made.ID, "t")}})
	s := snapshot(t, m)
	if _, ok := frameworkOf(s, made.ID); ok {
		t.Errorf("a framework reported by an agent without an ID was rebuilt")
	}
	if f, _ := frameworkOf(s, sched.ID); f.LiveTasks != 0 {
		t.Errorf("framework %s has %d live tasks after a new agent's report, want 0", sched.ID, f.LiveTasks)
	}
	if len(s.Agents) != 1 || s.Agents[0].LiveTasks != 0 {
		t.Errorf("agents: %+v, want one with no tasks", s.Agents)
	}
}

// frameworkOfSize is a FrameworkInfo of exactly n bytes as a scheduler
// sends it (no ID, no principal): a long list of agents to run on, and a
// name to make up the rest. The list starts with on, which may run it.
func frameworkOfSize(t *testing.T, n int, on mezzo.AgentID) mezzo.FrameworkInfo {
	t.Helper()
	info := mezzo.FrameworkInfo{Constraints: mezzo.OfferConstraints{Agents: []mezzo.AgentID{on}}}
	for i := 0; proto.Size(api.FrameworkToProto(info)) < n-500; i++ {
		info.Constraints.Agents = append(info.Constraints.Agents, mezzo.AgentID(fmt.Sprintf("%064d", i)))
	}
	for proto.Size(api.FrameworkToProto(info)) < n {
		info.Name += "n"
	}
	if got := proto.Size(api.FrameworkToProto(info)); got != n {
		t.Fatalf("made a framework info of %d bytes, want %d", got, n)
	}
	return info
}

// A framework is held to its size bound as the master keeps it (with its
// principal and ID), the form its agents report back: one the master
// accepts is rebuilt from its agent after a restart, not dropped for its
// size; one that fits the bound only without its ID is refused at once.
func TestFrameworkSizeBoundedAsKept(t *testing.T) {
	m1, addr := startMaster(t, master.Config{})
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256"})
	err := subscribeErr(t, addr, "", frameworkOfSize(t, api.MaxFrameworkInfoBytes, agent.ID()))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "with its principal and ID") {
		t.Errorf("a framework info at the bound without its ID: %v, want InvalidArgument", err)
	}
	info := frameworkOfSize(t, api.MaxFrameworkInfoBytes-100, agent.ID())
	info.FailoverTimeout = time.Hour
	s := mastertest.Subscribe(t, addr, info)
	if err := s.Accept([]mezzo.OfferID{s.TakeOffers(wait)[0].ID}, []mezzo.TaskInfo{task("t1", "cpus:1;mem:32")}, mezzo.Filters{}); err != nil {
		t.Fatal(err)
	}
	launched := agent.WaitFor("t1 launched", wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == 1 }).Launched[0]
	agent.Kill()
	s.Close()
	m1.Crash()

	m2, addr2 := startMaster(t, master.Config{})
	mastertest.StartAgent(t, addr2, mastertest.AgentOptions{ID: agent.ID(), Secret: agent.Secret(), Hostname: "h", Resources: "cpus:4;mem:256",
		Frameworks: []mezzo.FrameworkInfo{launched.Info}, Running: []*api.RunningTask{runningTask(s.ID, "t1")}})
	if f, ok := frameworkOf(snapshot(t, m2), s.ID); !ok || f.LiveTasks != 1 {
		t.Errorf("framework %s after the restart: %+v (found %v), want it rebuilt from its agent with t1", s.ID, f, ok)
	}
}
