package attack

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

var reregisteredRE = regexp.MustCompile(`msg="registered with master" agent=\S+ master=\S+ reregistered=true`)

// TestAgentWithLargeTasksRejoins: an agent running six tasks with ~1 MB
// of data each (6 MB of task info, over the 4 MiB message limit) is killed
// with -9 and restarted; it re-registers and its tasks are adopted, not
// lost (each is then killed through it: TASK_KILLED, never TASK_LOST).
func TestAgentWithLargeTasksRejoins(t *testing.T) {
	slow(t)
	// A long ping timeout: the probe is about the size of the
	// re-registration, not how fast a loaded machine restarts an agent.
	c := newCluster(t, clusterOptions{MasterArgs: []string{"--ping-timeout", "60s"}})
	ag := c.agents[0]
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "big", Role: "a", User: "nobody"})
	res := mezzo.MustParseResources("cpus:0.1;mem:16")
	var ids []string
	for i := 0; i < 6; i++ {
		id := fmt.Sprintf("big-%d", i)
		data := []byte(strings.Repeat(fmt.Sprintf("%d", i), 1_000_000))
		if err := a.launch(a.offer(), mezzo.TaskInfo{ID: mezzo.TaskID(id), Resources: res, Data: data,
			Command: &mezzo.CommandInfo{Value: "sleep 600", Shell: true, User: "nobody"}}); err != nil {
			t.Fatalf("launch %s: %v", id, err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		a.waitState(id, 30*time.Second, mezzo.TaskRunning)
	}
	ag.Kill9(t)
	back := start(t, "agent-0-again", ag.args...)
	waitLog(t, back, "the agent to re-register", regexp.MustCompile(`(`+reregisteredRE.String()+`)`), 60*time.Second)
	for _, id := range ids {
		if err := call(a, a.client.Kill, &api.KillRequest{Header: a.header(), TaskId: id}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		a.waitState(id, 30*time.Second, mezzo.TaskKilled, mezzo.TaskLost)
		if states := a.statesOf(id); slices.Contains(states, mezzo.TaskLost) {
			t.Errorf("%s went through %v; want adopted, then killed", id, states)
		}
	}
	if n := strings.Count(back.Output(), `msg="registered with master"`); n != 1 {
		t.Errorf("the restarted agent registered %d times, want once", n)
	}
}

// TestOversizedFrameworkAndTasksRefused: a framework with a 4 MB name is
// refused at subscription, with the limit; a task with oversized data ends
// TASK_ERROR; the agent never loses its master over it, and no log line
// carries the name.
func TestOversizedFrameworkAndTasksRefused(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	name := strings.Repeat("bigname-", 500_000) // 4 MB
	_, err := subscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: name, Role: "a", User: "nobody"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "framework name is 4000000 bytes; the limit is 1024") {
		t.Fatalf("4 MB name: %v, want InvalidArgument naming the limit", err)
	}
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: strings.Repeat("n", 1024), Role: "a", User: "nobody"})
	res := mezzo.MustParseResources("cpus:0.1;mem:16")
	if err := a.launch(a.offer(), mezzo.TaskInfo{ID: "too-big", Resources: res, Data: make([]byte, 1<<20+1),
		Command: &mezzo.CommandInfo{Value: "true", Shell: true, User: "nobody"}}); err != nil {
		t.Fatal(err)
	}
	st := a.waitState("too-big", 30*time.Second, mezzo.TaskError, mezzo.TaskRunning, mezzo.TaskFinished, mezzo.TaskLost)
	if st.State != mezzo.TaskError || st.Reason != mezzo.ReasonTaskInvalid || !strings.Contains(st.Message, "data is 1048577 bytes; the limit is 1048576") {
		t.Fatalf("oversized data: %s %s %q, want TASK_ERROR REASON_TASK_INVALID naming the limit", st.State, st.Reason, st.Message)
	}
	// A task at the bounds runs, and the agent keeps its one session.
	if err := a.launch(a.offer(), mezzo.TaskInfo{ID: "at-limit", Resources: res, Data: make([]byte, 1<<20),
		Command: &mezzo.CommandInfo{Value: "true", Shell: true, User: "nobody"}}); err != nil {
		t.Fatal(err)
	}
	if st := a.waitState("at-limit", 30*time.Second, mezzo.TaskFinished, mezzo.TaskFailed, mezzo.TaskError, mezzo.TaskLost); st.State != mezzo.TaskFinished {
		t.Fatalf("task at the limits: %s %q", st.State, st.Message)
	}
	out := c.agents[0].Output()
	if n := strings.Count(out, `msg="registered with master"`); n != 1 || strings.Contains(out, "lost the master") {
		t.Errorf("the agent registered %d times (lost its master: %v), want once", n, strings.Contains(out, "lost the master"))
	}
	if strings.Contains(c.master.Output(), strings.Repeat("bigname-", 100)) {
		t.Error("the master logged the 4 MB name")
	}
}
