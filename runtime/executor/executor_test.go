package executor

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeAgent is a test-only ExecutorAPI server: it pushes the events the
// test gives it and records the updates it receives.
type fakeAgent struct {
	api.UnimplementedExecutorAPIServer
	token    string
	events   chan *api.ExecutorEvent
	updates  chan *api.TaskStatus
	messages chan []byte
}

func (f *fakeAgent) Subscribe(req *api.ExecutorSubscribeRequest, s grpc.ServerStreamingServer[api.ExecutorEvent]) error {
	if req.Header.GetToken() != f.token {
		return status.Error(codes.PermissionDenied, "bad token")
	}
	err := s.Send(&api.ExecutorEvent{Event: &api.ExecutorEvent_Subscribed_{Subscribed: &api.ExecutorEvent_Subscribed{
		Executor: &api.ExecutorInfo{ExecutorId: req.Header.ExecutorId, Kind: "test"}, AgentId: "agent-1"}}})
	if err != nil {
		return err
	}
	for {
		select {
		case ev := <-f.events:
			if err := s.Send(ev); err != nil {
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

func (f *fakeAgent) Update(_ context.Context, req *api.ExecutorUpdateRequest) (*api.Empty, error) {
	if req.Header.GetToken() != f.token {
		return nil, status.Error(codes.PermissionDenied, "bad token")
	}
	f.updates <- req.Status
	return &api.Empty{}, nil
}

func (f *fakeAgent) Message(_ context.Context, req *api.ExecutorMessageRequest) (*api.Empty, error) {
	f.messages <- req.Data
	return &api.Empty{}, nil
}

// startExecutor runs exec against a fresh fake agent; Run's result comes on
// the returned channel.
func startExecutor(t *testing.T, exec mezzo.Executor) (*fakeAgent, <-chan error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAgent{token: "secret", events: make(chan *api.ExecutorEvent, 16),
		updates: make(chan *api.TaskStatus, 64), messages: make(chan []byte, 16)}
	srv := grpc.NewServer()
	api.RegisterExecutorAPIServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Endpoint: lis.Addr().String(), FrameworkID: "fw", ExecutorID: "ex", Token: "secret"}, exec)
	}()
	t.Cleanup(func() { cancel(); srv.Stop() })
	return f, done
}

func launch(task mezzo.TaskInfo) *api.ExecutorEvent {
	return &api.ExecutorEvent{Event: &api.ExecutorEvent_Launch_{Launch: &api.ExecutorEvent_Launch{Task: api.TaskToProto(task)}}}
}

func kill(id mezzo.TaskID) *api.ExecutorEvent {
	return &api.ExecutorEvent{Event: &api.ExecutorEvent_Kill_{Kill: &api.ExecutorEvent_Kill{TaskId: string(id)}}}
}

func next(t *testing.T, f *fakeAgent) mezzo.TaskStatus {
	t.Helper()
	select {
	case p := <-f.updates:
		s, err := api.StatusFromProto(p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no status update within 10s")
	}
	return mezzo.TaskStatus{}
}

// echoExecutor answers each task with RUNNING, then FINISHED carrying the
// task's data reversed, and echoes framework messages back.
type echoExecutor struct {
	registeredWith chan mezzo.AgentID
}

func (e *echoExecutor) Registered(d mezzo.ExecutorDriver, info mezzo.ExecutorInfo, fw mezzo.FrameworkID, agent mezzo.AgentID) {
	e.registeredWith <- agent
}
func (e *echoExecutor) LaunchTask(d mezzo.ExecutorDriver, task mezzo.TaskInfo) {
	_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskRunning})
	out := []byte(strings.ToUpper(string(task.Data)))
	_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskFinished, Data: out})
}
func (e *echoExecutor) KillTask(mezzo.ExecutorDriver, mezzo.TaskID) {}
func (e *echoExecutor) FrameworkMessage(d mezzo.ExecutorDriver, data []byte) {
	_ = d.SendFrameworkMessage(append([]byte("re:"), data...))
}
func (e *echoExecutor) Shutdown(d mezzo.ExecutorDriver) { _ = d.Stop() }

func TestCustomExecutorRoundTrip(t *testing.T) {
	ex := &echoExecutor{registeredWith: make(chan mezzo.AgentID, 1)}
	f, done := startExecutor(t, ex)
	if a := <-ex.registeredWith; a != "agent-1" {
		t.Errorf("registered with agent %q", a)
	}
	f.events <- launch(mezzo.TaskInfo{ID: "t1", Data: []byte("pi")})
	run, fin := next(t, f), next(t, f)
	if run.State != mezzo.TaskRunning || fin.State != mezzo.TaskFinished {
		t.Fatalf("states %v, %v; want RUNNING then FINISHED", run.State, fin.State)
	}
	if string(fin.Data) != "PI" || fin.ExecutorID != "ex" || fin.UUID == "" || fin.UUID == run.UUID || fin.Time.IsZero() {
		t.Errorf("finished update = %+v; want data PI, executor ex, a fresh uuid and a time", fin)
	}
	f.events <- &api.ExecutorEvent{Event: &api.ExecutorEvent_Message_{Message: &api.ExecutorEvent_Message{Data: []byte("hi")}}}
	if m := <-f.messages; string(m) != "re:hi" {
		t.Errorf("message %q", m)
	}
	f.events <- &api.ExecutorEvent{Event: &api.ExecutorEvent_Shutdown_{Shutdown: &api.ExecutorEvent_Shutdown{}}}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Shutdown")
	}
}

func TestBadTokenIsRefused(t *testing.T) {
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := grpc.NewServer()
	api.RegisterExecutorAPIServer(srv, &fakeAgent{token: "right"})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	err := Run(context.Background(), Config{Endpoint: lis.Addr().String(), FrameworkID: "fw", ExecutorID: "ex", Token: "wrong"}, &echoExecutor{})
	if status.Code(errorsCause(err)) != codes.PermissionDenied && !strings.Contains(err.Error(), "bad token") {
		t.Errorf("want a permission error, got %v", err)
	}
}

func errorsCause(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestConfigFromEnvNamesMissingVariable(t *testing.T) {
	t.Setenv(EnvAgentEndpoint, "127.0.0.1:1")
	t.Setenv(EnvFrameworkID, "fw")
	t.Setenv(EnvExecutorID, "")
	if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), EnvExecutorID) {
		t.Errorf("want an error naming %s, got %v", EnvExecutorID, err)
	}
}

func TestConfigFromEnvReadsTheRecoveryTimeout(t *testing.T) {
	t.Setenv(EnvAgentEndpoint, "127.0.0.1:1")
	t.Setenv(EnvFrameworkID, "fw")
	t.Setenv(EnvExecutorID, "ex")
	t.Setenv(EnvExecutorToken, "tok")
	t.Setenv(EnvRecoveryTimeout, "15m")
	if c, err := ConfigFromEnv(); err != nil || c.ReconnectTimeout != 15*time.Minute {
		t.Errorf("%s=15m: reconnect timeout %v (%v), want 15m", EnvRecoveryTimeout, c.ReconnectTimeout, err)
	}
	for _, bad := range []string{"soon", "-1s", "0s"} {
		t.Setenv(EnvRecoveryTimeout, bad)
		if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), EnvRecoveryTimeout) {
			t.Errorf("%s=%s: want an error naming it, got %v", EnvRecoveryTimeout, bad, err)
		}
	}
}

func TestCommandExecutor(t *testing.T) {
	dir := t.TempDir()
	f, _ := startExecutor(t, &Command{Dir: dir, GracePeriod: 200 * time.Millisecond})
	cases := []struct {
		task      mezzo.TaskInfo
		kill      bool
		state     mezzo.TaskState
		inMessage string
	}{
		{mezzo.TaskInfo{ID: "ok", Command: &mezzo.CommandInfo{Value: "echo out; echo err >&2", Shell: true}}, false, mezzo.TaskFinished, "code 0"},
		{mezzo.TaskInfo{ID: "three", Command: &mezzo.CommandInfo{Value: "exit 3", Shell: true}}, false, mezzo.TaskFailed, "code 3"},
		{mezzo.TaskInfo{ID: "argv", Command: &mezzo.CommandInfo{Value: "/bin/sh", Args: []string{"-c", "exit 4"}}}, false, mezzo.TaskFailed, "code 4"},
		{mezzo.TaskInfo{ID: "missing", Command: &mezzo.CommandInfo{Value: "/no/such/program"}}, false, mezzo.TaskFailed, "not found"},
		{mezzo.TaskInfo{ID: "shmissing", Command: &mezzo.CommandInfo{Value: "no-such-program-xyz", Shell: true}}, false, mezzo.TaskFailed, "command not found"},
		{mezzo.TaskInfo{ID: "noop", Duration: 20 * time.Millisecond}, false, mezzo.TaskFinished, ""},
		{mezzo.TaskInfo{ID: "sleepy", Command: &mezzo.CommandInfo{Value: "sleep 30", Shell: true}}, true, mezzo.TaskKilled, ""},
		{mezzo.TaskInfo{ID: "stubborn", Command: &mezzo.CommandInfo{Value: "trap '' TERM; sleep 30", Shell: true}}, true, mezzo.TaskKilled, ""},
		{mezzo.TaskInfo{ID: "longnoop", Duration: time.Hour}, true, mezzo.TaskKilled, ""},
	}
	for _, c := range cases {
		f.events <- launch(c.task)
		first := next(t, f)
		if c.state == mezzo.TaskFailed && c.inMessage == "not found" {
			if first.State != mezzo.TaskFailed || !strings.Contains(first.Message, c.inMessage) {
				t.Errorf("%s: got %v %q, want FAILED mentioning %q", c.task.ID, first.State, first.Message, c.inMessage)
			}
			continue
		}
		if first.State != mezzo.TaskRunning || first.TaskID != c.task.ID {
			t.Fatalf("%s: first update %v for %s, want RUNNING", c.task.ID, first.State, first.TaskID)
		}
		if c.kill {
			time.Sleep(50 * time.Millisecond) // let the shell install its trap
			f.events <- kill(c.task.ID)
		}
		last := next(t, f)
		if last.State != c.state || !strings.Contains(last.Message, c.inMessage) {
			t.Errorf("%s: got %v %q, want %v mentioning %q", c.task.ID, last.State, last.Message, c.state, c.inMessage)
		}
	}
	for file, want := range map[string]string{"task-ok.stdout": "out\n", "task-ok.stderr": "err\n"} {
		if b, err := os.ReadFile(filepath.Join(dir, file)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", file, b, err, want)
		}
	}
}

// restartableAgent serves a fakeAgent on a fixed address that the test can
// stop and start again, as an agent that crashes and restarts.
type restartableAgent struct {
	f    *fakeAgent
	addr string
	srv  *grpc.Server
}

func (r *restartableAgent) start(t *testing.T) {
	t.Helper()
	lis, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	r.addr = lis.Addr().String()
	r.srv = grpc.NewServer()
	api.RegisterExecutorAPIServer(r.srv, r.f)
	go func() { _ = r.srv.Serve(lis) }()
}

// shutdownRecorder records that Shutdown was called.
type shutdownRecorder struct {
	echoExecutor
	shut chan struct{}
}

func (s *shutdownRecorder) Shutdown(d mezzo.ExecutorDriver) { close(s.shut); _ = d.Stop() }

// An executor that has been quiet for longer than its reconnect timeout
// still gets the whole timeout to find its agent again after the agent
// goes, and works on with the agent that comes back. An agent that does
// not come back ends the executor, through its Shutdown.
func TestExecutorOutlivesAgentRestart(t *testing.T) {
	r := &restartableAgent{addr: "127.0.0.1:0", f: &fakeAgent{token: "secret", events: make(chan *api.ExecutorEvent, 16),
		updates: make(chan *api.TaskStatus, 64), messages: make(chan []byte, 16)}}
	r.start(t)
	ex := &shutdownRecorder{echoExecutor{registeredWith: make(chan mezzo.AgentID, 1)}, make(chan struct{})}
	const timeout = 2 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Endpoint: r.addr, FrameworkID: "fw", ExecutorID: "ex", Token: "secret", ReconnectTimeout: timeout}, ex)
	}()
	<-ex.registeredWith
	time.Sleep(timeout + 500*time.Millisecond) // quiet for longer than the timeout
	r.srv.Stop()
	r.f.events <- launch(mezzo.TaskInfo{ID: "while-down"}) // queued for the next agent
	select {
	case err := <-done:
		t.Fatalf("Run gave up as soon as the agent went: %v", err)
	case <-time.After(timeout / 4):
	}
	r.start(t)
	if s := next(t, r.f); s.TaskID != "while-down" || s.State != mezzo.TaskRunning {
		t.Errorf("after the agent came back: %+v", s)
	}
	if s := next(t, r.f); s.State != mezzo.TaskFinished {
		t.Errorf("then %v, want FINISHED", s.State)
	}
	r.srv.Stop()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("Run after the agent stayed away: %v, want 'unreachable'", err)
		}
	case <-time.After(timeout + 10*time.Second):
		t.Fatal("Run did not give up on an agent that stayed away")
	}
	select {
	case <-ex.shut:
	default:
		t.Error("Run gave up without calling the executor's Shutdown")
	}
}

// After a long outage the executor finds its restarted agent within about a
// second: gRPC's own reconnect backoff (seconds, growing to minutes) would
// otherwise outlast the agent's executor re-registration timeout.
func TestExecutorFindsRestartedAgentQuickly(t *testing.T) {
	r := &restartableAgent{addr: "127.0.0.1:0", f: &fakeAgent{token: "secret", events: make(chan *api.ExecutorEvent, 16),
		updates: make(chan *api.TaskStatus, 64), messages: make(chan []byte, 16)}}
	r.start(t)
	ex := &echoExecutor{registeredWith: make(chan mezzo.AgentID, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = Run(ctx, Config{Endpoint: r.addr, FrameworkID: "fw", ExecutorID: "ex", Token: "secret", ReconnectTimeout: time.Minute}, ex)
	}()
	<-ex.registeredWith
	r.srv.Stop()
	time.Sleep(6 * time.Second) // the outage: gRPC's default backoff would be past 5 s by now
	r.f.events <- launch(mezzo.TaskInfo{ID: "after"})
	back := time.Now()
	r.start(t)
	defer r.srv.Stop()
	if s := next(t, r.f); s.TaskID != "after" {
		t.Fatalf("got %+v", s)
	}
	if took := time.Since(back); took > 3*time.Second {
		t.Errorf("the executor found its agent %v after it came back; want about a second at most", took)
	} else {
		t.Logf("executor back %v after the agent", took.Round(time.Millisecond))
	}
}

// A restarted agent sends again the launches it cannot know were
// delivered: the executor runs each task once.
func TestRepeatedLaunchRunsTheTaskOnce(t *testing.T) {
	ex := &echoExecutor{registeredWith: make(chan mezzo.AgentID, 1)}
	f, _ := startExecutor(t, ex)
	<-ex.registeredWith
	f.events <- launch(mezzo.TaskInfo{ID: "t1", Data: []byte("a")})
	f.events <- launch(mezzo.TaskInfo{ID: "t1", Data: []byte("a")})
	f.events <- launch(mezzo.TaskInfo{ID: "t2", Data: []byte("b")})
	var got []string
	for range 4 {
		s := next(t, f)
		got = append(got, string(s.TaskID)+":"+s.State.String())
	}
	want := []string{"t1:TASK_RUNNING", "t1:TASK_FINISHED", "t2:TASK_RUNNING", "t2:TASK_FINISHED"}
	if !slices.Equal(got, want) {
		t.Fatalf("updates %v, want %v (t1 once)", got, want)
	}
	select {
	case p := <-f.updates:
		t.Fatalf("a further update %v: the repeated launch ran again", p)
	case <-time.After(300 * time.Millisecond):
	}
}

// tokenFD is the read end of a pipe holding token, as an agent hands it.
func tokenFD(t *testing.T, token string) int {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(p[1], []byte(token)); err != nil {
		t.Fatal(err)
	}
	_ = unix.Close(p[1])
	return p[0]
}

func setExecutorEnv(t *testing.T) {
	t.Setenv(EnvAgentEndpoint, "127.0.0.1:1")
	t.Setenv(EnvFrameworkID, "fw")
	t.Setenv(EnvExecutorID, "ex")
}

// The token comes on the descriptor the agent names, which is then closed;
// neither variable stays in the environment tasks would inherit; and the
// process is no longer dumpable, so no process of its user can read the
// token from its memory.
func TestConfigFromEnvReadsTheTokenFromItsDescriptor(t *testing.T) {
	setExecutorEnv(t)
	fd := tokenFD(t, "s3cret\n")
	var pipe unix.Stat_t
	if err := unix.Fstat(fd, &pipe); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvExecutorTokenFD, strconv.Itoa(fd))
	t.Setenv(EnvExecutorToken, "from-an-old-agent")
	c, err := ConfigFromEnv()
	if err != nil || c.Token != "s3cret" {
		t.Fatalf("token %q (%v), want s3cret from the descriptor", c.Token, err)
	}
	// Closed (or, if the runtime opened something since, no longer the pipe).
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err == nil && now.Ino == pipe.Ino && now.Dev == pipe.Dev {
		t.Errorf("descriptor %d still holds the token's pipe after the token was read", fd)
	}
	for _, v := range []string{EnvExecutorTokenFD, EnvExecutorToken} {
		if _, set := os.LookupEnv(v); set {
			t.Errorf("%s still in the environment", v)
		}
	}
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 0 {
		t.Errorf("dumpable = %d (%v) after ConfigFromEnv, want 0", d, err)
	}

	for _, bad := range []struct{ fd, want string }{{"x", "file descriptor"}, {"1", "3 or more"}} {
		t.Setenv(EnvExecutorTokenFD, bad.fd)
		if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), EnvExecutorTokenFD) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s=%s: %v, want an error naming it", EnvExecutorTokenFD, bad.fd, err)
		}
	}
	t.Setenv(EnvExecutorTokenFD, strconv.Itoa(tokenFD(t, "")))
	if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("an empty token descriptor: %v, want an error", err)
	}
	// An agent of an earlier version (its binary upgraded under it) still
	// puts the token in the environment.
	os.Unsetenv(EnvExecutorTokenFD)
	t.Setenv(EnvExecutorToken, "old")
	if c, err := ConfigFromEnv(); err != nil || c.Token != "old" {
		t.Errorf("token from %s: %q (%v)", EnvExecutorToken, c.Token, err)
	}
	os.Unsetenv(EnvExecutorToken)
	if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), EnvExecutorTokenFD) {
		t.Errorf("no token at all: %v, want an error naming %s", err, EnvExecutorTokenFD)
	}
}

// A task gets neither the token nor the number of its descriptor, even
// from an executor whose environment still has them, and its output is
// its user's alone whatever the umask.
func TestCommandTasksGetNoTokenAndPrivateOutput(t *testing.T) {
	t.Setenv(EnvExecutorToken, "s3cret")
	t.Setenv(EnvExecutorTokenFD, "3")
	old := unix.Umask(0)
	defer unix.Umask(old)
	dir := t.TempDir()
	f, _ := startExecutor(t, &Command{Dir: dir})
	f.events <- launch(mezzo.TaskInfo{ID: "env", Command: &mezzo.CommandInfo{Value: "env", Shell: true}})
	if s := next(t, f); s.State != mezzo.TaskRunning {
		t.Fatalf("%v, want RUNNING", s.State)
	}
	if s := next(t, f); s.State != mezzo.TaskFinished {
		t.Fatalf("%v %q, want FINISHED", s.State, s.Message)
	}
	b, err := os.ReadFile(filepath.Join(dir, "task-env.stdout"))
	if err != nil || !strings.Contains(string(b), "MEZZO_TASK_ID=env") {
		t.Fatalf("task's env: %q (%v)", b, err)
	}
	if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), EnvExecutorTokenFD) {
		t.Errorf("the task's environment has the token or its descriptor:\n%s", b)
	}
	for _, name := range []string{"task-env.stdout", "task-env.stderr"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", name, st.Mode().Perm(), err)
		}
	}
}
