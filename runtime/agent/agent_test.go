package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/isolation"
)

func apiResources(req *api.AgentSubscribeRequest) (mezzo.Resources, error) {
	return api.ResourcesFromProto(req.GetAgent().GetResources())
}

var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))

// startAgent runs an agent against m until the test ends; the returned stop
// function ends it early and waits. cfg.Logger defaults to quiet.
func startAgent(t *testing.T, m *fakeMaster, cfg Config) (*Agent, func()) {
	t.Helper()
	cfg.Master = m.addr
	if cfg.Resources.IsEmpty() {
		cfg.Resources = mezzo.MustParseResources("cpus:2;mem:1024")
	}
	if !cfg.Emulated {
		if cfg.ExecutorPath == "" { // else a copy of the test binary (reachableExecutor)
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cfg.ExecutorPath = exe
		}
		cfg.ExecutorArgs = []string{"executor"}
		cfg.ExecutorEnv = []string{"MEZZO_TEST_EXECUTOR=1"}
	}
	if cfg.KillGracePeriod == 0 {
		cfg.KillGracePeriod = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return a, stop
}

func TestRegistration(t *testing.T) {
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	res := mezzo.MustParseResources("cpus:3;mem:2048;ports:[31000-31010]")
	_, stop := startAgent(t, m, Config{WorkDir: dir, Resources: res, Hostname: "h1",
		Attributes: []mezzo.Attribute{{Name: "rack", Value: "r1"}}})
	req := <-m.subscribes
	got, err := apiResources(req)
	if err != nil || !got.Equal(res) {
		t.Errorf("registered resources %v (%v), want %v", got, err, res)
	}
	if req.Agent.Hostname != "h1" || len(req.Agent.Attributes) != 1 || req.Agent.Attributes[0].Value != "r1" || req.Agent.AgentId != "" {
		t.Errorf("first registration = %v", req.Agent)
	}
	// The ID survives a restart: the next run re-registers with it.
	waitFor(t, func() bool { b, _ := os.ReadFile(filepath.Join(dir, "agent-id")); return len(b) > 0 })
	stop()
	startAgent(t, m, Config{WorkDir: dir, Resources: res})
	if req := <-m.subscribes; req.Agent.AgentId != "agent-1" {
		t.Errorf("re-registration with agent ID %q, want agent-1", req.Agent.AgentId)
	}
}

func TestDetectResources(t *testing.T) {
	r, err := DetectResources(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if r.Get(mezzo.CPUs) < 1 || r.Get(mezzo.Mem) <= 0 || r.Get(mezzo.Disk) <= 0 || r.PortCount() != 1001 {
		t.Errorf("detected %v", r)
	}
}

func TestCommandTasks(t *testing.T) {
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	startAgent(t, m, Config{WorkDir: dir})
	<-m.subscribes
	cmd := func(id, sh string) mezzo.TaskInfo {
		return mezzo.TaskInfo{ID: mezzo.TaskID(id), Resources: mezzo.MustParseResources("cpus:0.1;mem:32"),
			Command: &mezzo.CommandInfo{Value: sh, Shell: true}}
	}
	m.events <- launchEvent1("fw", cmd("ok", "echo hello"), cmd("three", "exit 3"), cmd("sleepy", "sleep 30"),
		mezzo.TaskInfo{ID: "missing", Command: &mezzo.CommandInfo{Value: "/no/such/binary"}})

	for _, c := range []struct {
		id    mezzo.TaskID
		state mezzo.TaskState
		msg   string
	}{{"ok", mezzo.TaskFinished, "code 0"}, {"three", mezzo.TaskFailed, "code 3"}} {
		if s := m.nextUpdate(t, c.id); s.State != mezzo.TaskRunning || s.AgentID != "agent-1" || s.UUID == "" {
			t.Errorf("%s: first update %+v, want RUNNING from agent-1 with a uuid", c.id, s)
		}
		if s := m.nextUpdate(t, c.id); s.State != c.state || !strings.Contains(s.Message, c.msg) {
			t.Errorf("%s: %v %q, want %v mentioning %q", c.id, s.State, s.Message, c.state, c.msg)
		}
	}
	if s := m.nextUpdate(t, "missing"); s.State != mezzo.TaskFailed || !strings.Contains(s.Message, "not found") || !strings.Contains(s.Message, "/no/such/binary") {
		t.Errorf("missing command: %v %q", s.State, s.Message)
	}
	if s := m.nextUpdate(t, "sleepy"); s.State != mezzo.TaskRunning {
		t.Fatalf("sleepy: %v", s.State)
	}
	m.events <- killEvent("fw", "sleepy")
	if s := m.nextUpdate(t, "sleepy"); s.State != mezzo.TaskKilled {
		t.Errorf("killed task reported %v %q", s.State, s.Message)
	}
	out, _ := filepath.Glob(filepath.Join(dir, "sandboxes", "f-fw", "e-command-ok-*", "task-ok.stdout"))
	if len(out) != 1 {
		t.Fatalf("sandbox output files %v", out)
	}
	if b, _ := os.ReadFile(out[0]); string(b) != "hello\n" {
		t.Errorf("task output %q", b)
	}
}

func TestExecutorReuse(t *testing.T) {
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	startAgent(t, m, Config{WorkDir: dir})
	<-m.subscribes
	ex := &mezzo.ExecutorInfo{ID: "upper-1", Kind: "upper", Resources: mezzo.MemMB(16)}
	pids := map[string]bool{}
	for _, id := range []mezzo.TaskID{"a", "b"} {
		m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: id, Executor: ex, Data: []byte("pi " + string(id)), Resources: mezzo.Cpus(0.1)})
		if s := m.nextUpdate(t, id); s.State != mezzo.TaskRunning {
			t.Fatalf("%s: %v %q", id, s.State, s.Message)
		}
		s := m.nextUpdate(t, id)
		if s.State != mezzo.TaskFinished || string(s.Data) != strings.ToUpper("pi "+string(id)) || s.ExecutorID != "upper-1" {
			t.Errorf("%s: %+v", id, s)
		}
		pids[s.Message] = true
	}
	if len(pids) != 1 {
		t.Errorf("tasks ran in executors %v; want one reused process", pids)
	}
	if dirs, _ := filepath.Glob(filepath.Join(dir, "sandboxes", "f-fw", "e-upper-1-*")); len(dirs) != 1 {
		t.Errorf("sandboxes %v, want one", dirs)
	}
}

func TestUnacknowledgedUpdateIsResent(t *testing.T) {
	m := startFakeMaster(t, false)
	startAgent(t, m, Config{Emulated: true, StatusRetry: 30 * time.Millisecond, StatusRetryMax: 60 * time.Millisecond})
	<-m.subscribes
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: "t", Duration: time.Hour})
	first := m.nextUpdate(t, "t")
	again := m.nextUpdate(t, "t")
	if first.State != mezzo.TaskRunning || again.UUID != first.UUID {
		t.Fatalf("got %v then %v (uuid %s, %s); want RUNNING resent with the same uuid", first.State, again.State, first.UUID, again.UUID)
	}
	m.events <- ackEvent("fw", first)
	m.events <- killEvent("fw", "t")
	// After the ack, RUNNING is never sent again; KILLED follows.
	for {
		s := m.nextUpdate(t, "t")
		if s.UUID == first.UUID {
			continue // a resend that crossed the ack in flight
		}
		if s.State != mezzo.TaskKilled {
			t.Fatalf("after ack got %v", s.State)
		}
		m.events <- ackEvent("fw", s)
		break
	}
	time.Sleep(200 * time.Millisecond)
	for len(m.updates) > 0 {
		if u := <-m.updates; u.status.UUID == first.UUID || u.status.State != mezzo.TaskKilled {
			t.Errorf("acknowledged update %v resent", u.status.State)
		}
	}
}

func TestUpdatesSurviveRestart(t *testing.T) {
	m := startFakeMaster(t, false)
	dir := t.TempDir()
	cfg := Config{Emulated: true, WorkDir: dir, StatusRetry: time.Hour}
	a, stop := startAgent(t, m, cfg)
	<-m.subscribes
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: "t", Duration: 0})
	running := m.nextUpdate(t, "t")
	waitFor(t, func() bool { return len(a.store.pending("fw", "t")) == 2 }) // FINISHED stored behind RUNNING
	stop()

	startAgent(t, m, cfg)
	if req := <-m.subscribes; req.Agent.AgentId != "agent-1" {
		t.Errorf("re-registered as %q", req.Agent.AgentId)
	}
	again := m.nextUpdate(t, "t")
	if again.UUID != running.UUID || again.State != mezzo.TaskRunning {
		t.Fatalf("after restart got %v %s, want the stored RUNNING %s", again.State, again.UUID, running.UUID)
	}
	m.events <- ackEvent("fw", again)
	fin := m.nextUpdate(t, "t")
	if fin.State != mezzo.TaskFinished {
		t.Fatalf("then %v, want FINISHED", fin.State)
	}
	m.events <- ackEvent("fw", fin)
	waitFor(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "status", "*"))
		return len(files) == 0
	})
}

func TestMemoryLimit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("cgroups need root")
	}
	m := startFakeMaster(t, true)
	exe, _ := os.Executable()
	if _, err := isolation.New("cgroups", isolation.Options{Parent: "mezzo-agent-test"}); err != nil {
		t.Skip(err)
	}
	startAgent(t, m, Config{WorkDir: t.TempDir(), Isolation: "cgroups", CgroupParent: "mezzo-agent-test"})
	<-m.subscribes
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: "hog", Resources: mezzo.MustParseResources("cpus:1;mem:64"),
		Command: &mezzo.CommandInfo{Value: exe, Env: []string{"MEZZO_TEST_HOG=1", "MEZZO_TEST_EXECUTOR="}}})
	var s mezzo.TaskStatus
	for s = m.nextUpdate(t, "hog"); s.State == mezzo.TaskRunning; s = m.nextUpdate(t, "hog") {
	}
	if s.State != mezzo.TaskFailed || s.Reason != mezzo.ReasonMemoryLimit || !strings.Contains(s.Message, "memory limit") {
		t.Errorf("hog ended %v %s %q; want TASK_FAILED for the memory limit", s.State, s.Reason, s.Message)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}

func logLevel() slog.Level {
	if os.Getenv("MEZZO_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelError
}

func TestRunningTaskIsLostAcrossRestart(t *testing.T) {
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	cfg := Config{Emulated: true, WorkDir: dir}
	_, stop := startAgent(t, m, cfg)
	<-m.subscribes
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: "long", Duration: time.Hour})
	if s := m.nextUpdate(t, "long"); s.State != mezzo.TaskRunning {
		t.Fatalf("got %v", s.State)
	}
	// Stop before the ack lands, so RUNNING is still on disk.
	stop()
	startAgent(t, m, cfg)
	<-m.subscribes
	var s mezzo.TaskStatus
	for s = m.nextUpdate(t, "long"); s.State == mezzo.TaskRunning; s = m.nextUpdate(t, "long") {
	}
	if s.State != mezzo.TaskLost || s.Reason != mezzo.ReasonAgentRestarted {
		t.Errorf("after restart: %v %s, want TASK_LOST for the restart", s.State, s.Reason)
	}
}
