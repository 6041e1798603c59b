package mastertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// FakeAgent is an agent driven by a test. With AutoRun set, every task it
// is asked to launch is reported TASK_RUNNING and then TASK_FINISHED (with
// UUIDs, as a real agent does); otherwise tasks stay where the test puts
// them. Pings are answered unless Mute is set.
type FakeAgent struct {
	t      testing.TB
	client api.AgentAPIClient
	conn   *grpc.ClientConn
	cancel context.CancelFunc

	mu       sync.Mutex
	id       mezzo.AgentID
	session  string
	secret   string
	autoRun  bool
	mute     bool
	launched []LaunchedTask
	kills    []mezzo.TaskID
	acks     []string // uuids
	shutdown []mezzo.FrameworkID
	messages [][]byte
	pings    int
	uuidSeq  int
	changed  chan struct{}
	ended    chan struct{}
}

// LaunchedTask is a task the master asked the fake agent to run, with
// the FrameworkInfo the launch carried (what a real agent keeps).
type LaunchedTask struct {
	Framework mezzo.FrameworkID
	Info      mezzo.FrameworkInfo
	Task      mezzo.TaskInfo
}

// AgentOptions configure a FakeAgent.
type AgentOptions struct {
	ID mezzo.AgentID // "" on first registration
	// Secret is the agent secret to present with ID (the one the master
	// issued at the first registration: FakeAgent.Secret).
	Secret    string
	Hostname  string
	Resources string // Mesos text form
	// Attributes are reported at registration (AgentHTTPAttribute, say).
	Attributes []mezzo.Attribute
	AutoRun    bool
	// Running are tasks to report on (re-)registration, and Frameworks
	// the FrameworkInfos of their frameworks (as a real agent kept them
	// from the launches).
	Running    []*api.RunningTask
	Frameworks []mezzo.FrameworkInfo
	// DialOptions are added after insecure credentials (TLS or a bearer
	// token, say).
	DialOptions []grpc.DialOption
}

// StartAgent registers a fake agent with the master at addr and waits for
// its Registered event.
func StartAgent(t testing.TB, addr string, o AgentOptions) *FakeAgent {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, o.DialOptions...)...)
	if err != nil {
		t.Fatal(err)
	}
	a := &FakeAgent{t: t, client: api.NewAgentAPIClient(conn), conn: conn, autoRun: o.AutoRun, changed: make(chan struct{}, 1), ended: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	t.Cleanup(a.Kill)
	res := mezzo.MustParseResources(o.Resources)
	var fws []*api.FrameworkInfo
	for _, f := range o.Frameworks {
		fws = append(fws, api.FrameworkToProto(f))
	}
	stream, err := a.client.Subscribe(ctx, &api.AgentSubscribeRequest{
		Agent: &api.AgentInfo{AgentId: string(o.ID), Hostname: o.Hostname, Resources: api.ResourcesToProto(res), Attributes: api.AttributesToProto(o.Attributes)},
		Tasks: o.Running, Frameworks: fws, AgentSecret: o.Secret,
	})
	if err != nil {
		t.Fatalf("agent subscribe: %v", err)
	}
	ev, err := stream.Recv()
	if err != nil {
		t.Fatalf("agent subscribe: %v", err)
	}
	reg := ev.GetRegistered()
	if reg == nil {
		t.Fatalf("agent: first event is %v, not Registered", ev)
	}
	a.id, a.session, a.secret = mezzo.AgentID(reg.AgentId), reg.SessionId, o.Secret
	if reg.AgentSecret != "" {
		a.secret = reg.AgentSecret
	}
	go a.loop(stream)
	return a
}

// Secret is the agent secret the master issued (or the one presented).
func (a *FakeAgent) Secret() string { a.mu.Lock(); defer a.mu.Unlock(); return a.secret }

// ID is the agent ID the master gave.
func (a *FakeAgent) ID() mezzo.AgentID { a.mu.Lock(); defer a.mu.Unlock(); return a.id }

// Kill drops the agent's connection at once, as kill -9 would; it also
// stops answering pings.
func (a *FakeAgent) Kill() {
	a.mu.Lock()
	a.mute = true
	a.mu.Unlock()
	a.cancel()
	_ = a.conn.Close()
}

// Mute stops answering pings while keeping the stream open.
func (a *FakeAgent) Mute() { a.mu.Lock(); a.mute = true; a.mu.Unlock() }

// Ended is closed when the master ends the agent's stream.
func (a *FakeAgent) Ended() <-chan struct{} { return a.ended }

func (a *FakeAgent) header() *api.AgentHeader {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &api.AgentHeader{AgentId: string(a.id), SessionId: a.session}
}

func (a *FakeAgent) loop(stream api.AgentAPI_SubscribeClient) {
	defer close(a.ended)
	for {
		ev, err := stream.Recv()
		if err != nil {
			return
		}
		switch e := ev.Event.(type) {
		case *api.AgentEvent_Ping_:
			a.mu.Lock()
			a.pings++
			mute := a.mute
			a.mu.Unlock()
			if !mute {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, _ = a.client.Pong(ctx, &api.PongRequest{Header: a.header(), Seq: e.Ping.Seq})
				cancel()
			}
		case *api.AgentEvent_LaunchTasks_:
			fw := mezzo.FrameworkID(e.LaunchTasks.Framework.GetFrameworkId())
			info, err := api.FrameworkFromProto(e.LaunchTasks.Framework)
			if err != nil {
				a.t.Errorf("fake agent: bad framework: %v", err)
			}
			var tasks []mezzo.TaskInfo
			for _, p := range e.LaunchTasks.Tasks {
				ti, err := api.TaskFromProto(p)
				if err != nil {
					a.t.Errorf("fake agent: bad task: %v", err)
					continue
				}
				tasks = append(tasks, ti)
			}
			a.mu.Lock()
			for _, ti := range tasks {
				a.launched = append(a.launched, LaunchedTask{Framework: fw, Info: info, Task: ti})
			}
			auto := a.autoRun
			a.mu.Unlock()
			if auto {
				for _, ti := range tasks {
					a.Report(fw, ti.ID, mezzo.TaskRunning, "")
					a.Report(fw, ti.ID, mezzo.TaskFinished, "")
				}
			}
		case *api.AgentEvent_KillTask_:
			a.mu.Lock()
			a.kills = append(a.kills, mezzo.TaskID(e.KillTask.TaskId))
			a.mu.Unlock()
		case *api.AgentEvent_Acknowledge_:
			a.mu.Lock()
			a.acks = append(a.acks, e.Acknowledge.Uuid)
			a.mu.Unlock()
		case *api.AgentEvent_ShutdownFramework_:
			a.mu.Lock()
			a.shutdown = append(a.shutdown, mezzo.FrameworkID(e.ShutdownFramework.FrameworkId))
			a.mu.Unlock()
		case *api.AgentEvent_Message_:
			a.mu.Lock()
			a.messages = append(a.messages, e.Message.Data)
			a.mu.Unlock()
		}
		select {
		case a.changed <- struct{}{}:
		default:
		}
	}
}

// Report sends a status update with a fresh UUID and returns the UUID.
func (a *FakeAgent) Report(fw mezzo.FrameworkID, task mezzo.TaskID, state mezzo.TaskState, msg string) string {
	a.mu.Lock()
	a.uuidSeq++
	uuid := fmt.Sprintf("%s-u%d", a.id, a.uuidSeq)
	a.mu.Unlock()
	a.Send(fw, mezzo.TaskStatus{TaskID: task, State: state, Message: msg, UUID: uuid, Time: time.Now()})
	return uuid
}

// Send sends a status update as given (to resend one, say).
func (a *FakeAgent) Send(fw mezzo.FrameworkID, st mezzo.TaskStatus) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.client.Update(ctx, &api.AgentUpdateRequest{Header: a.header(), FrameworkId: string(fw), Status: api.StatusToProto(st)}); err != nil {
		a.t.Logf("fake agent %s: update of %s: %v", a.ID(), st.TaskID, err)
	}
}

// ExecutorExited reports that an executor ended.
func (a *FakeAgent) ExecutorExited(fw mezzo.FrameworkID, ex mezzo.ExecutorID, code int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.client.ExecutorExited(ctx, &api.ExecutorExitedRequest{Header: a.header(), FrameworkId: string(fw), ExecutorId: string(ex), Status: code}); err != nil {
		a.t.Errorf("fake agent: executor exited: %v", err)
	}
}

// WaitFor polls cond (under the agent's lock) until it holds or the
// timeout passes.
func (a *FakeAgent) WaitFor(what string, timeout time.Duration, cond func(s AgentSeen) bool) AgentSeen {
	a.t.Helper()
	deadline := time.After(timeout)
	for {
		s := a.Seen()
		if cond(s) {
			return s
		}
		select {
		case <-a.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			a.t.Fatalf("fake agent %s: timed out after %v waiting for %s; saw %+v", a.ID(), timeout, what, s)
		}
	}
}

// AgentSeen is what the fake agent has received so far.
type AgentSeen struct {
	Launched []LaunchedTask
	Kills    []mezzo.TaskID
	Acks     []string
	Shutdown []mezzo.FrameworkID
	Messages [][]byte
	Pings    int
}

// Seen returns a copy of what the agent has received.
func (a *FakeAgent) Seen() AgentSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AgentSeen{
		Launched: append([]LaunchedTask(nil), a.launched...),
		Kills:    append([]mezzo.TaskID(nil), a.kills...),
		Acks:     append([]string(nil), a.acks...),
		Shutdown: append([]mezzo.FrameworkID(nil), a.shutdown...),
		Messages: append([][]byte(nil), a.messages...),
		Pings:    a.pings,
	}
}
