package agent

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/isolation"
	"github.com/mezzo-cluster/mezzo/runtime/security"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Agent is one mezzo agent. Create it with New and drive it with Run.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	store  *statusStore
	state  *stateFiles        // identity, epoch, checkpoints: retried when refused (statefiles.go)
	iso    isolation.Isolator // nil when emulated
	gc     *sandboxGC
	client api.AgentAPIClient
	mc     *api.MasterConn // follows the leader; nil with Config.Conn
	ownMC  bool            // mc dialled here, closed on return

	lis      net.Listener // ExecutorAPI, nil when emulated
	endpoint string
	execTLS  *tls.Config // the ExecutorAPI's (executortls.go)
	execCA   []byte      // PEM of the CA executors verify it with

	mu         sync.Mutex
	id         mezzo.AgentID
	secret     string // proves to the master that this agent holds id (identity.go)
	session    string
	epoch      int64 // highest master epoch registered with (fencing)
	frameworks map[mezzo.FrameworkID]*framework
	tasks      map[streamKey]*task
	execSeq    int
	closed     bool
	// adopted are executors of a previous run (recover.go) that Run
	// waits for; detached is set when Run returned leaving executors
	// running (Config.DetachOnStop) for the next run.
	adopted  []*executorProc
	detached bool
	pong     pendingPong // emulated agents answer pings from resendLoop (emulated.go)
	// uids allocates isolated containers' host uids (nil: tasks run as
	// their host users, or as the agent when it is not root).
	uids *uidAllocator
}

type framework struct {
	info      mezzo.FrameworkInfo
	executors map[mezzo.ExecutorID]*executorProc
}

type task struct {
	fw    mezzo.FrameworkID
	info  mezzo.TaskInfo
	state mezzo.TaskState
	exec  *executorProc // nil when emulated
	timer *time.Timer   // emulated tasks
	// held is a command executor's terminal update, kept until its
	// process exits so a memory-limit kill can be named as such.
	held *mezzo.TaskStatus
	// unstored: one of the task's updates could not be stored, and the
	// agent has ended the task (storefail.go); its executor's later
	// updates of it are answered and dropped.
	unstored bool
}

// New checks the configuration, prepares WorkDir and the isolator, and
// recovers the status updates a previous run left unacknowledged. It does
// not contact the master; Run does.
func New(cfg Config) (*Agent, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, frameworks: map[mezzo.FrameworkID]*framework{}, tasks: map[streamKey]*task{}, gc: newSandboxGC()}
	a.log = cfg.Logger
	statusDir := ""
	var err error
	if cfg.WorkDir != "" {
		statusDir = filepath.Join(cfg.WorkDir, "status")
		if err := os.MkdirAll(statusDir, 0o700); err != nil {
			return nil, fmt.Errorf("agent: work dir: %w", err)
		}
		if err := checkWorkDir(cfg.WorkDir); err != nil {
			return nil, err
		}
		if a.id, a.secret, err = loadIdentity(cfg.WorkDir); err != nil {
			return nil, err
		}
		if a.epoch, err = loadEpoch(cfg.WorkDir); err != nil {
			// Not fatal: the epoch fences off deposed masters, and the
			// first registration sets it again.
			a.log.Error("the newest master epoch of the previous run is unreadable; until this agent registers, a deposed master is not refused", "err", err)
		}
	}
	a.store = newStatusStore(statusDir, a.log, cfg.StatusRetry, cfg.StatusRetryMax)
	a.state = newStateFiles(a.log, cfg.StatusRetry, cfg.StatusRetryMax, a.store.poke)
	latest := a.store.load()
	switch {
	case cfg.MasterConn != nil:
		a.mc = cfg.MasterConn
		a.client = api.NewAgentAPIClient(a.mc.Conn())
	case cfg.Conn != nil:
		a.client = api.NewAgentAPIClient(cfg.Conn)
	default:
		mc, err := api.DialMasters([]string{cfg.Master})
		if err != nil {
			return nil, fmt.Errorf("agent: master address %q: %w", cfg.Master, err)
		}
		mc.Discover = cfg.Discover
		a.mc, a.ownMC = mc, true
		a.client = api.NewAgentAPIClient(mc.Conn())
	}
	recovered := map[streamKey]bool{}
	if !cfg.Emulated {
		iso, err := isolation.New(cfg.Isolation, isolation.Options{Parent: cfg.CgroupParent})
		if err != nil {
			a.closeConn()
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.iso = iso
		if err := a.setupTaskUsers(); err != nil {
			a.closeConn()
			return nil, err
		}
		a.execSeq = nextExecSeq(cfg.WorkDir)
		recovered = a.recoverExecutors(latest)
		if err := a.secureWorkDir(a.liveSandboxes()); err != nil {
			a.closeConn()
			return nil, fmt.Errorf("agent: work dir %s: %w", cfg.WorkDir, err)
		}
		a.scheduleLeftoverSandboxes()
		lis, err := a.listenExecutorAPI()
		if err != nil {
			a.closeConn()
			return nil, err
		}
		a.lis, a.endpoint = lis, lis.Addr().String()
		if err := a.setupExecutorTLS(lis); err != nil {
			_ = lis.Close()
			a.closeConn()
			return nil, err
		}
	}
	// The unfinished tasks of executors that are gone (all of them when
	// emulated, or with Recover "cleanup") are lost; say so, reliably.
	// They, and the ended tasks whose last updates are unacknowledged, are
	// kept until acknowledged, so that re-registration reports them: the
	// master then takes their end from the agent's update and does not
	// declare them lost a second time.
	keys := make([]streamKey, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	sortKeys(keys)
	for _, k := range keys {
		last := latest[k]
		if recovered[k] {
			continue
		}
		a.tasks[k] = &task{fw: k.fw, info: mezzo.TaskInfo{ID: k.task}, state: last.State}
		if !last.State.Terminal() {
			a.tasks[k].state = mezzo.TaskLost
			// Not stored (a full disk): it is sent from memory all the
			// same, and storing it is retried.
			_, err := a.store.appendUpdate(k.fw, mezzo.TaskStatus{TaskID: k.task, AgentID: a.id, ExecutorID: last.ExecutorID,
				State: mezzo.TaskLost, Reason: mezzo.ReasonAgentRestarted, Message: "agent restarted; the task's executor is gone",
				Time: time.Now(), UUID: newID()}, time.Now())
			if err != nil {
				a.log.Error("storing status update", "framework", string(k.fw), "task", string(k.task), "err", err)
			}
		}
	}
	return a, nil
}

func (a *Agent) closeConn() {
	if a.ownMC {
		_ = a.mc.Close()
	}
}

// ID is the agent ID the master gave (empty before the first registration).
func (a *Agent) ID() mezzo.AgentID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// Run registers with the master, re-registering after every lost
// connection, and serves executors until ctx ends. Executors a previous run
// left are given Config.ExecutorReregisterTimeout to reconnect before the
// agent registers. On return the agent's executors have been killed and its
// resources released, unless Config.DetachOnStop leaves them running for
// the next run; the status updates not yet acknowledged stay on disk.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var srv *grpc.Server
	if a.lis != nil {
		// Tasks share the machine with the ExecutorAPI: connections that
		// never finish a handshake are bounded in number and in time.
		srv = grpc.NewServer(grpc.Creds(credentials.NewTLS(a.execTLS)), grpc.ConnectionTimeout(security.DefaultHandshakeTimeout))
		api.RegisterExecutorAPIServer(srv, &executorServer{a: a})
		wg.Add(1)
		lis := security.LimitListener(a.lis, security.DefaultMaxConnections)
		go func() { defer wg.Done(); _ = srv.Serve(lis) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); a.resendLoop(ctx) }()
	if a.lis != nil {
		wg.Add(2)
		go func() { defer wg.Done(); a.watchDisk(ctx) }()
		go func() { defer wg.Done(); a.gcLoop(ctx) }()
	}
	a.mu.Lock()
	for _, ex := range a.adopted {
		go a.waitExecutor(ex)
	}
	a.mu.Unlock()
	a.awaitReregistration(ctx)

	delay := a.cfg.ReconnectDelay
	seed := fnv.New64a()
	_, _ = seed.Write([]byte(a.cfg.Hostname))
	jitter := mrand.New(mrand.NewPCG(seed.Sum64(), uint64(time.Now().UnixNano())))
	for ctx.Err() == nil {
		tried := ""
		if a.mc != nil {
			tried = a.mc.Current()
		}
		registered, err := a.session1(ctx)
		if ctx.Err() != nil {
			break
		}
		if registered {
			delay = a.cfg.ReconnectDelay
		}
		wait := delay
		if a.mc != nil {
			if next := a.mc.Failed(ctx, tried, err); next != tried {
				wait = 0 // another master to try (the leader a standby named)
			}
		}
		// Jitter (half to the full wait): agents that lost the same master
		// at once must not come back in lockstep.
		if wait > 0 {
			wait = wait/2 + time.Duration(jitter.Int64N(int64(wait/2)+1))
		}
		a.log.Warn("lost the master; re-subscribing", "agent", string(a.ID()), "err", err, "after", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		if wait > 0 {
			delay = min(2*delay, a.cfg.ReconnectMax)
		}
	}

	if a.cfg.DetachOnStop && a.lis != nil {
		a.detach()
	} else {
		a.shutdownAll()
	}
	if srv != nil {
		srv.Stop()
	}
	wg.Wait()
	a.state.close()
	a.store.close()
	a.closeConn()
	return nil
}

// session1 is one subscription to the master: register, then handle events
// until the stream breaks. It reports whether registration succeeded.
func (a *Agent) session1(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := a.openRegistration(ctx, a.subscribeRequest())
	var ev *api.AgentEvent
	if err == nil {
		ev, err = stream.Recv()
	}
	if err != nil {
		if status.Code(err) == codes.PermissionDenied {
			a.log.Error("the master refused this agent", "agent", string(a.ID()), "err", err)
		}
		return false, err
	}
	reg := ev.GetRegistered()
	if reg == nil {
		return false, fmt.Errorf("master's first event is %T, not Registered", ev.Event)
	}
	a.mu.Lock()
	if reg.MasterEpoch < a.epoch {
		known := a.epoch
		a.mu.Unlock()
		return false, fmt.Errorf("master %s has epoch %d, older than the %d this agent has registered with: a deposed leader; refused", reg.MasterId, reg.MasterEpoch, known)
	}
	first := a.id == ""
	newID := a.id != mezzo.AgentID(reg.AgentId)
	newEpoch := reg.MasterEpoch > a.epoch
	a.id, a.session, a.epoch = mezzo.AgentID(reg.AgentId), reg.SessionId, reg.MasterEpoch
	newSecret := reg.AgentSecret != "" && reg.AgentSecret != a.secret
	if reg.AgentSecret != "" {
		a.secret = reg.AgentSecret
	}
	id, secret := a.id, a.secret
	a.mu.Unlock()
	if a.cfg.WorkDir != "" {
		// The master issues a secret once (to an agent that shows none):
		// held in memory, it is presented at every registration of this
		// run, and written until it is on disk (statefiles.go).
		if epoch := reg.MasterEpoch; newEpoch {
			_ = a.state.put(filepath.Join(a.cfg.WorkDir, epochFile), "a restarted agent takes commands from a deposed master of an older epoch",
				func() error { return saveEpoch(a.cfg.WorkDir, epoch) })
		}
		if newID || newSecret {
			_ = a.state.put(filepath.Join(a.cfg.WorkDir, agentIDFile), "a restarted agent presents no secret, or an older ID, and the master refuses it",
				func() error { return saveIdentity(a.cfg.WorkDir, id, secret) })
		}
		a.state.flush()
	}
	a.log.Info("registered with master", "agent", reg.AgentId, "master", reg.MasterId, "reregistered", !first)
	a.store.resendAll(time.Now())

	// A master that goes silent (no event, not even a ping) for several
	// ping intervals is treated as lost.
	var watchdog *time.Timer
	silence := time.Duration(reg.PingIntervalNanos) * 5
	if silence > 0 {
		watchdog = time.AfterFunc(silence, cancel)
		defer watchdog.Stop()
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return true, err
		}
		if watchdog != nil {
			watchdog.Reset(silence)
		}
		a.handle(ctx, ev)
	}
}

func (a *Agent) header() *api.AgentHeader {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &api.AgentHeader{AgentId: string(a.id), SessionId: a.session}
}

func (a *Agent) subscribeRequest() *api.AgentSubscribeRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	req := &api.AgentSubscribeRequest{Agent: &api.AgentInfo{
		AgentId: string(a.id), Hostname: a.cfg.Hostname,
		Resources: api.ResourcesToProto(a.cfg.Resources), Attributes: api.AttributesToProto(a.cfg.Attributes),
	}, AgentSecret: a.secret}
	fws := make([]mezzo.FrameworkID, 0, len(a.frameworks))
	for id := range a.frameworks {
		fws = append(fws, id)
	}
	sort.Slice(fws, func(i, j int) bool { return fws[i] < fws[j] })
	for _, id := range fws {
		fw := a.frameworks[id]
		req.Frameworks = append(req.Frameworks, api.FrameworkToProto(fw.info))
		exs := make([]mezzo.ExecutorID, 0, len(fw.executors))
		for ex := range fw.executors {
			exs = append(exs, ex)
		}
		sort.Slice(exs, func(i, j int) bool { return exs[i] < exs[j] })
		for _, ex := range exs {
			info := fw.executors[ex].info
			req.Executors = append(req.Executors, &api.RunningExecutor{FrameworkId: string(id), Executor: slimExecutor(&info)})
		}
	}
	keys := make([]streamKey, 0, len(a.tasks))
	for k := range a.tasks {
		keys = append(keys, k)
	}
	sortKeys(keys)
	for _, k := range keys {
		t := a.tasks[k]
		rt := &api.RunningTask{FrameworkId: string(k.fw), Task: slimTask(t.info), State: api.StateToProto(t.state)}
		if t.exec != nil {
			rt.ExecutorId = string(t.exec.info.ID)
		}
		req.Tasks = append(req.Tasks, rt)
	}
	return req
}

// handle acts on one master event. It never blocks on executors or the
// master: replies go out on their own goroutines.
func (a *Agent) handle(ctx context.Context, ev *api.AgentEvent) {
	switch e := ev.Event.(type) {
	case *api.AgentEvent_LaunchTasks_:
		if a.stale(e.LaunchTasks.MasterEpoch, "launch") {
			return
		}
		fw, err := api.FrameworkFromProto(e.LaunchTasks.Framework)
		if err != nil {
			a.log.Error("bad framework in launch", "err", err)
			return
		}
		for _, p := range e.LaunchTasks.Tasks {
			t, err := api.TaskFromProto(p)
			if err != nil {
				a.update(fw.ID, mezzo.TaskStatus{TaskID: mezzo.TaskID(p.GetTaskId()), State: mezzo.TaskError, Reason: mezzo.ReasonTaskInvalid, Message: err.Error()})
				continue
			}
			a.launch(fw, t)
		}
	case *api.AgentEvent_KillTask_:
		if a.stale(e.KillTask.MasterEpoch, "kill") {
			return
		}
		a.kill(mezzo.FrameworkID(e.KillTask.FrameworkId), mezzo.TaskID(e.KillTask.TaskId))
	case *api.AgentEvent_ShutdownExecutor_:
		a.mu.Lock()
		if fw := a.frameworks[mezzo.FrameworkID(e.ShutdownExecutor.FrameworkId)]; fw != nil {
			if ex := fw.executors[mezzo.ExecutorID(e.ShutdownExecutor.ExecutorId)]; ex != nil {
				a.shutdownExecutorLocked(ex)
			}
		}
		a.mu.Unlock()
	case *api.AgentEvent_ShutdownFramework_:
		a.shutdownFramework(mezzo.FrameworkID(e.ShutdownFramework.FrameworkId))
	case *api.AgentEvent_Acknowledge_:
		k := e.Acknowledge
		if _, err := a.store.ack(mezzo.FrameworkID(k.FrameworkId), mezzo.TaskID(k.TaskId), k.Uuid, time.Now()); err != nil {
			a.log.Error("recording acknowledgement", "framework", k.FrameworkId, "task", k.TaskId, "err", err)
		}
		a.forgetIfDone(streamKey{mezzo.FrameworkID(k.FrameworkId), mezzo.TaskID(k.TaskId)})
	case *api.AgentEvent_Message_:
		a.mu.Lock()
		if fw := a.frameworks[mezzo.FrameworkID(e.Message.FrameworkId)]; fw != nil {
			if ex := fw.executors[mezzo.ExecutorID(e.Message.ExecutorId)]; ex != nil {
				ex.send(&api.ExecutorEvent{Event: &api.ExecutorEvent_Message_{Message: &api.ExecutorEvent_Message{Data: e.Message.Data}}})
			}
		}
		a.mu.Unlock()
	case *api.AgentEvent_Ping_:
		if a.cfg.Emulated {
			a.pongLater(e.Ping.Seq)
			return
		}
		seq, h := e.Ping.Seq, a.header()
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, _ = a.client.Pong(cctx, &api.PongRequest{Header: h, Seq: seq})
		}()
	case *api.AgentEvent_Registered_:
		a.log.Warn("unexpected second Registered event from master")
	}
}

// update records a status update the agent itself generates and queues it
// for the master. Task state follows the update.
func (a *Agent) update(fw mezzo.FrameworkID, s mezzo.TaskStatus) {
	a.mu.Lock()
	s.AgentID = a.id
	if t := a.tasks[streamKey{fw, s.TaskID}]; t != nil {
		t.state = s.State
		if t.exec != nil && s.ExecutorID == "" {
			s.ExecutorID = t.exec.info.ID
		}
	}
	a.mu.Unlock()
	if s.UUID == "" {
		s.UUID = newID()
	}
	if s.Time.IsZero() {
		s.Time = time.Now()
	}
	if _, err := a.store.appendUpdate(fw, s, time.Now()); err != nil {
		a.log.Error("storing status update", "framework", string(fw), "task", string(s.TaskID), "err", err)
		a.endUnstored(fw, s, err)
	}
}

// forgetIfDone drops a terminal task once all its updates are acknowledged.
func (a *Agent) forgetIfDone(k streamKey) {
	if len(a.store.pending(k.fw, k.task)) > 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if t := a.tasks[k]; t != nil && t.state.Terminal() && t.held == nil {
		delete(a.tasks, k)
	}
}

// resendLoop sends due heads of the update streams to the master, and
// retries storing the records and state files the disk refused.
func (a *Agent) resendLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due, next := a.store.due(time.Now())
		h := a.header()
		// Every due update leaves in one call: an agent whose tasks end
		// together pays one round trip and one turn of the master's loop
		// (not registered: resendAll makes them due on registration).
		if len(due) > 0 && h.SessionId != "" {
			// One call per api.RegisterPartBytes of updates: a batch over
			// the master's message limit would be refused every time.
			for _, batch := range updateBatches(due, api.RegisterPartBytes) {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := a.client.Updates(cctx, &api.AgentUpdatesRequest{Header: h, Updates: batch})
				cancel()
				if err != nil && ctx.Err() == nil {
					a.log.Debug("status updates not sent; will retry", "updates", len(batch), "err", err)
				}
			}
		}
		if a.cfg.Emulated {
			a.answerPong(ctx, h)
		}
		if retry := a.store.retryStores(time.Now()); !retry.IsZero() && (next.IsZero() || retry.Before(next)) {
			next = retry
		}
		if retry := a.state.retry(time.Now()); !retry.IsZero() && (next.IsZero() || retry.Before(next)) {
			next = retry
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-a.store.wake:
		case <-timer.C:
		}
	}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// stale refuses a command from a master older than the newest one the
// agent has registered with (a deposed leader that does not know it yet).
func (a *Agent) stale(epoch int64, what string) bool {
	a.mu.Lock()
	known := a.epoch
	a.mu.Unlock()
	if epoch >= known {
		return false
	}
	a.log.Warn("refused a command from a deposed master", "command", what, "epoch", epoch, "known_epoch", known)
	return true
}

// Epoch is the highest master epoch the agent has registered with.
func (a *Agent) Epoch() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.epoch
}
