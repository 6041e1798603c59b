package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/agent"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// TestMain doubles as the executor binary the test agents start for
// command tasks (MEZZO_TEST_EXECUTOR=1: `mezzo.test executor --kind
// command`).
func TestMain(m *testing.M) {
	if os.Getenv("MEZZO_TEST_EXECUTOR") == "1" && len(os.Args) > 1 && os.Args[1] == "executor" {
		if err := runExecutor(context.Background(), os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "executor:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// opScheduler launches each of its commands once, as tasks cmd-0,
// cmd-1..., on the first agent whose offer fits, then declines for a
// short while so that offers keep coming (the drain test counts them). It
// records inverse offers and the agents it was offered.
type opScheduler struct {
	cmds []string

	mu       sync.Mutex
	next     int
	states   map[mezzo.TaskID]mezzo.TaskState
	offered  map[mezzo.AgentID]int
	inverse  []string // "agent:task,task"
	deadline time.Time
	changed  chan struct{}
}

func newOpScheduler(cmds ...string) *opScheduler {
	return &opScheduler{cmds: cmds, states: map[mezzo.TaskID]mezzo.TaskState{}, offered: map[mezzo.AgentID]int{}, changed: make(chan struct{}, 1)}
}

func (s *opScheduler) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *opScheduler) Registered(mezzo.Driver, mezzo.FrameworkID) {}
func (s *opScheduler) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	need := mezzo.MustParseResources("cpus:0.5;mem:32")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range offers {
		s.offered[o.AgentID]++
		if s.next < len(s.cmds) && o.Resources.Contains(need) {
			t := mezzo.TaskInfo{ID: mezzo.TaskID(fmt.Sprintf("cmd-%d", s.next)), Name: "cmd", Resources: need,
				Command: &mezzo.CommandInfo{Value: s.cmds[s.next], Shell: true}}
			s.next++
			_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{t}, mezzo.Filters{Refuse: 50 * time.Millisecond})
			continue
		}
		_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: 50 * time.Millisecond})
	}
	s.poke()
}
func (s *opScheduler) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}
func (s *opScheduler) StatusUpdate(_ mezzo.Driver, st mezzo.TaskStatus) {
	s.mu.Lock()
	s.states[st.TaskID] = st.State
	s.mu.Unlock()
	s.poke()
}
func (s *opScheduler) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (s *opScheduler) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (s *opScheduler) Error(mezzo.Driver, string)                                             {}

// InverseOffer makes opScheduler a driver.InverseOfferHandler.
func (s *opScheduler) InverseOffer(_ mezzo.Driver, agent mezzo.AgentID, tasks []mezzo.TaskID, deadline time.Time) {
	names := make([]string, len(tasks))
	for i, t := range tasks {
		names[i] = string(t)
	}
	s.mu.Lock()
	s.inverse = append(s.inverse, string(agent)+":"+strings.Join(names, ","))
	s.deadline = deadline
	s.mu.Unlock()
	s.poke()
}

var _ driver.InverseOfferHandler = (*opScheduler)(nil)

// waitFor polls cond under the scheduler's lock until it holds.
func (s *opScheduler) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// opCluster is a live master (gRPC and HTTP), two real agents running
// command tasks through this test binary, and one framework.
type opCluster struct {
	http   string
	agents []mezzo.AgentID
	fw     mezzo.FrameworkID
	sched  *opScheduler
}

func startOpCluster(t *testing.T, cmds ...string) *opCluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", AllocationInterval: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := m.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	m.SetViewMaxAge(0)
	httpAddr, err := m.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &opCluster{http: httpAddr}
	for i := 0; i < 2; i++ {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(agent.Config{Master: addr, Hostname: fmt.Sprintf("host-%d", i), Resources: mezzo.MustParseResources("cpus:2;mem:256"),
			Attributes: []mezzo.Attribute{{Name: master.AgentHTTPAttribute, Value: lis.Addr().String()}},
			WorkDir:    t.TempDir(), ExecutorPath: exe, ExecutorArgs: []string{"executor"}, ExecutorEnv: []string{"MEZZO_TEST_EXECUTOR=1"},
			KillGracePeriod: 200 * time.Millisecond, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(func() { _ = srv.Close() })
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		// Wait for the registration so the IDs are known.
		for end := time.Now().Add(10 * time.Second); a.ID() == ""; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal("agent did not register")
			}
		}
		c.agents = append(c.agents, a.ID())
	}
	c.sched = newOpScheduler(cmds...)
	d, err := driver.New(driver.Config{Master: addr, Framework: mezzo.FrameworkInfo{Name: "ops"}, Logger: quiet}, c.sched)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(false) })
	for end := time.Now().Add(10 * time.Second); d.FrameworkID() == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("framework did not register")
		}
	}
	c.fw = d.FrameworkID()
	return c
}

// run runs an operator command against the cluster and returns its
// output.
func (c *opCluster) run(t *testing.T, cmd func(context.Context, io.Writer, []string) error, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := cmd(ctx, &out, append([]string{"--master-http", c.http}, args...))
	return out.String(), err
}

func (c *opCluster) must(t *testing.T, cmd func(context.Context, io.Writer, []string) error, args ...string) string {
	t.Helper()
	out, err := c.run(t, cmd, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}

// rowOf finds the table row starting with id.
func rowOf(out, id string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, id+" ") {
			return l
		}
	}
	return ""
}

func TestOperatorCommands(t *testing.T) {
	c := startOpCluster(t, "echo hello-from-the-task; echo oops >&2; sleep 60")
	s := c.sched
	s.waitFor(t, "cmd-0 running", func() bool { return s.states["cmd-0"] == mezzo.TaskRunning })

	out := c.must(t, opTasks)
	if row := rowOf(out, "cmd-0"); !strings.Contains(row, "TASK_RUNNING") || !strings.Contains(row, string(c.fw)) {
		t.Errorf("tasks: no running cmd-0 of %s:\n%s", c.fw, out)
	}
	if out := c.must(t, opTasks, "--state", "finished"); rowOf(out, "cmd-0") != "" {
		t.Errorf("tasks --state finished lists the running task:\n%s", out)
	}
	var tj struct{ Tasks []master.TaskJSON }
	if err := json.Unmarshal([]byte(c.must(t, opTasks, "--json", "--framework", string(c.fw))), &tj); err != nil || len(tj.Tasks) != 1 || tj.Tasks[0].ID != "cmd-0" {
		t.Errorf("tasks --json: %v %+v", err, tj)
	}
	agentOf := mezzo.AgentID(tj.Tasks[0].Agent)

	out = c.must(t, opStatus)
	for _, w := range []string{"(leader)", "policy", "drf", "2 active, 0 draining, 0 unreachable", "1 active", "TASK_RUNNING 1", "cpus", "mem"} {
		if !strings.Contains(out, w) {
			t.Errorf("status lacks %q:\n%s", w, out)
		}
	}
	out = c.must(t, opAgents)
	for _, id := range c.agents {
		if row := rowOf(out, string(id)); !strings.Contains(row, "connected") {
			t.Errorf("agents: %s not listed as connected:\n%s", id, out)
		}
	}
	if row := rowOf(out, string(agentOf)); !strings.Contains(row, "0.5/2") {
		t.Errorf("agents: %s should use 0.5 of 2 cpus:\n%s", agentOf, out)
	}
	out = c.must(t, opFrameworks)
	if row := rowOf(out, string(c.fw)); !strings.Contains(row, "ops") || !strings.Contains(row, "connected") {
		t.Errorf("frameworks: %s not listed:\n%s", c.fw, out)
	}

	// logs: the task's stdout, or its stderr.
	var logs string
	for end := time.Now().Add(10 * time.Second); !strings.Contains(logs, "hello-from-the-task"); time.Sleep(50 * time.Millisecond) {
		logs = c.must(t, opLogs, "cmd-0")
		if time.Now().After(end) {
			t.Fatalf("logs cmd-0: %q, want the task's output", logs)
		}
	}
	if strings.Contains(logs, "oops") {
		t.Errorf("stdout shows stderr: %q", logs)
	}
	if errs := c.must(t, opLogs, "cmd-0", "--stderr"); !strings.Contains(errs, "oops") {
		t.Errorf("logs --stderr: %q, want oops", errs)
	}

	// drain: the framework (an InverseOfferHandler) hears about cmd-0,
	// and the agent is offered no more.
	out = c.must(t, opDrain, string(agentOf), "--deadline", "10m")
	if row := rowOf(out, string(c.fw)); !strings.Contains(row, "cmd-0") || !strings.Contains(row, "yes") {
		t.Errorf("drain did not list %s asked about cmd-0:\n%s", c.fw, out)
	}
	s.waitFor(t, "the inverse offer", func() bool { return len(s.inverse) == 1 })
	s.mu.Lock()
	inv, dl := s.inverse[0], s.deadline
	s.mu.Unlock()
	if inv != string(agentOf)+":cmd-0" || time.Until(dl) < 9*time.Minute {
		t.Errorf("inverse offer %q deadline %v; want %s:cmd-0 in about 10m", inv, dl, agentOf)
	}
	if out := c.must(t, opAgents); !strings.Contains(rowOf(out, string(agentOf)), "draining") {
		t.Errorf("agents: %s not shown draining:\n%s", agentOf, out)
	}
	if out := c.must(t, opStatus); !strings.Contains(out, "1 draining") {
		t.Errorf("status: no draining agent:\n%s", out)
	}
	s.mu.Lock()
	before := s.offered[agentOf]
	other := c.agents[0]
	if other == agentOf {
		other = c.agents[1]
	}
	otherBefore := s.offered[other]
	s.mu.Unlock()
	s.waitFor(t, "several offers of the other agent", func() bool { return s.offered[other] >= otherBefore+3 })
	s.mu.Lock()
	after := s.offered[agentOf]
	s.mu.Unlock()
	if after != before {
		t.Errorf("drained agent %s was offered %d more times", agentOf, after-before)
	}
	out = c.must(t, opUndrain, string(agentOf))
	if !strings.Contains(out, "offers resume") {
		t.Errorf("undrain: %q", out)
	}
	s.waitFor(t, "offers of the undrained agent", func() bool { return s.offered[agentOf] > after })

	// kill: the task ends TASK_KILLED.
	out = c.must(t, opKill, "cmd-0", "--wait", "10s")
	if !strings.Contains(out, "kill sent to task cmd-0") || !strings.Contains(out, "TASK_KILLED") {
		t.Errorf("kill: %q, want the kill sent and TASK_KILLED", out)
	}
	s.waitFor(t, "cmd-0 killed", func() bool { return s.states["cmd-0"] == mezzo.TaskKilled })
	if row := rowOf(c.must(t, opTasks), "cmd-0"); !strings.Contains(row, "TASK_KILLED") {
		t.Errorf("tasks after kill: %q", row)
	}

	// Errors say what is wrong.
	if _, err := c.run(t, opKill, "no-such-task"); err == nil || err.Error() != "no task no-such-task" {
		t.Errorf("kill of an unknown task: %v; want \"no task no-such-task\"", err)
	}
	if _, err := c.run(t, opLogs, "no-such-task"); err == nil || !strings.Contains(err.Error(), "no task no-such-task") {
		t.Errorf("logs of an unknown task: %v", err)
	}
	if _, err := c.run(t, opDrain, "no-such-agent"); err == nil || !strings.Contains(err.Error(), "no agent no-such-agent") {
		t.Errorf("drain of an unknown agent: %v", err)
	}
	if _, err := c.run(t, opKill); err == nil || !strings.Contains(err.Error(), "usage: mezzo kill TASK") {
		t.Errorf("kill without a task: %v", err)
	}
}

func TestOperatorMasterUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close() // nothing listens there now
	var out bytes.Buffer
	err = opStatus(context.Background(), &out, []string{"--master-http", addr})
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), addr) {
		t.Errorf("status against nothing: %v; want unreachable naming %s", err, addr)
	}
}

func TestLogsFollowNewOutput(t *testing.T) {
	for _, c := range []struct{ prev, cur, want string }{
		{"", "abc", "abc"},
		{"abc", "abc", ""},
		{"abc", "abcdef", "def"},
		{"xyz", "abcdef", "abcdef"}, // more than a window was written
		{"line\n", "line\nline\n", "line\n"},
	} {
		if got := string(newOutput([]byte(c.prev), []byte(c.cur))); got != c.want {
			t.Errorf("newOutput(%q, %q) = %q, want %q", c.prev, c.cur, got, c.want)
		}
	}
}

func TestLogsFollow(t *testing.T) {
	c := startOpCluster(t, "for i in 1 2 3 4; do echo line-$i; sleep 0.2; done")
	s := c.sched
	s.waitFor(t, "cmd-0 running", func() bool { return s.states["cmd-0"] == mezzo.TaskRunning })
	out := c.must(t, opLogs, "cmd-0", "--follow", "--poll", "100ms")
	if want := "line-1\nline-2\nline-3\nline-4\n"; out != want {
		t.Errorf("logs --follow printed %q, want %q", out, want)
	}
}
