package agent

import (
	"context"
	"crypto/subtle"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
	"github.com/mezzo-cluster/mezzo/runtime/isolation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// CommandKind is the executor kind that runs tasks without an executor of
// their own. Each such task gets its own command executor process (as in
// Mesos), so its container's limits are the task's and a memory-limit kill
// is the task's; tasks naming an executor share it.
const CommandKind = "command"

// executorProc is one executor process and the events waiting for it.
type executorProc struct {
	fw        mezzo.FrameworkID
	info      mezzo.ExecutorInfo
	command   bool // a per-task command executor
	token     string
	sandbox   string
	container isolation.Container
	tasks     map[mezzo.TaskID]*task // live tasks
	// containerID and handle name the container in the checkpoint
	// (recover.go); adopted executors were started by a previous run.
	containerID string
	handle      isolation.Handle
	adopted     bool
	// hostUID and hostGID run its processes and own its sandbox on the
	// host (0: root, or the agent's own user); isolated says they were
	// allocated for this container (containeruids.go) and are held until
	// the sandbox is handed back to root.
	hostUID, hostGID uint32
	isolated         bool

	queue      []*api.ExecutorEvent // guarded by Agent.mu
	notify     chan struct{}
	exited     chan struct{} // closed once the process has been reaped
	settled    chan struct{} // closed once its tasks' ends are stored
	subscribed chan struct{} // closed when it first subscribes
	subOnce    sync.Once
	shutdown   bool
	// lost: an adopted executor killed for not reconnecting; its
	// unfinished tasks are lost, not failed.
	lost bool
	// limited is why the agent destroyed the container (limits.go);
	// diskWarned, that an unenforced disk quota was logged.
	limited    *limitation
	diskWarned bool
	// size is what the container was last given (limits.go); the disk is
	// checked against it also after the last task has ended.
	size containerSize
}

// newExecutorProc is an executor's record with its signals and no tasks
// yet; started and adopted executors alike.
func newExecutorProc(fw mezzo.FrameworkID, info mezzo.ExecutorInfo, command bool, token, sandbox string) *executorProc {
	return &executorProc{fw: fw, info: info, command: command, token: token, sandbox: sandbox, tasks: map[mezzo.TaskID]*task{},
		notify: make(chan struct{}, 1), exited: make(chan struct{}), settled: make(chan struct{}), subscribed: make(chan struct{})}
}

// frameworkLocked returns the record of a framework with tasks here, made
// on first use, with info as its latest FrameworkInfo; the caller holds
// Agent.mu.
func (a *Agent) frameworkLocked(info mezzo.FrameworkInfo) *framework {
	fw := a.frameworks[info.ID]
	if fw == nil {
		fw = &framework{executors: map[mezzo.ExecutorID]*executorProc{}}
		a.frameworks[info.ID] = fw
	}
	fw.info = info
	return fw
}

// send queues an event for the executor; the caller holds Agent.mu.
func (ex *executorProc) send(ev *api.ExecutorEvent) {
	ex.queue = append(ex.queue, ev)
	select {
	case ex.notify <- struct{}{}:
	default:
	}
}

func (a *Agent) launch(fwInfo mezzo.FrameworkInfo, t mezzo.TaskInfo) {
	log := a.log.With("framework", string(fwInfo.ID), "task", string(t.ID))
	k := streamKey{fwInfo.ID, t.ID}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return // the master learns of the task's fate on re-registration
	}
	if old := a.tasks[k]; old != nil && !old.state.Terminal() {
		a.mu.Unlock()
		log.Warn("launch of a task that is already running; ignored")
		return
	}
	fw := a.frameworkLocked(fwInfo)
	tk := &task{fw: fwInfo.ID, info: t, state: mezzo.TaskStaging}
	a.tasks[k] = tk
	log.Debug("launching task")

	if a.cfg.Emulated {
		a.mu.Unlock()
		a.update(fwInfo.ID, mezzo.TaskStatus{TaskID: t.ID, State: mezzo.TaskRunning})
		a.mu.Lock()
		if tk.unstored { // failed already: RUNNING could not be stored
			a.mu.Unlock()
			return
		}
		tk.timer = time.AfterFunc(t.Duration, func() {
			a.update(fwInfo.ID, mezzo.TaskStatus{TaskID: t.ID, State: mezzo.TaskFinished})
		})
		a.mu.Unlock()
		return
	}

	info := mezzo.ExecutorInfo{ID: mezzo.ExecutorID("command-" + string(t.ID)), Name: "command executor", Kind: CommandKind}
	command := t.Executor == nil
	if !command {
		info = *t.Executor
	}
	ex := fw.executors[info.ID]
	if ex != nil && ex.shutdown {
		a.mu.Unlock()
		a.update(fwInfo.ID, mezzo.TaskStatus{TaskID: t.ID, State: mezzo.TaskFailed, Reason: mezzo.ReasonExecutorTerminated,
			Message: fmt.Sprintf("executor %q is shutting down", info.ID)})
		return
	}
	tk.exec = ex
	if ex != nil {
		ex.tasks[t.ID] = tk
		a.resizeContainerLocked(ex)
		ex.send(launchEvent(t))
		a.checkpointLocked(ex)
		a.mu.Unlock()
		return
	}
	ex, err := a.startExecutorLocked(fwInfo.ID, info, command, tk)
	if err != nil {
		delete(a.tasks, k)
		a.mu.Unlock()
		log.Error("starting executor", "executor", string(info.ID), "err", err)
		a.update(fwInfo.ID, mezzo.TaskStatus{TaskID: t.ID, ExecutorID: info.ID, State: mezzo.TaskFailed,
			Reason: mezzo.ReasonContainerLaunchFail, Message: "cannot start executor: " + err.Error()})
		return
	}
	tk.exec = ex
	ex.send(launchEvent(t))
	a.checkpointLocked(ex)
	a.mu.Unlock()
}

func launchEvent(t mezzo.TaskInfo) *api.ExecutorEvent {
	return &api.ExecutorEvent{Event: &api.ExecutorEvent_Launch_{Launch: &api.ExecutorEvent_Launch{Task: api.TaskToProto(t)}}}
}

// startExecutorLocked starts an executor process in a fresh sandbox inside
// a container sized for the executor and its first task, as the user the
// master authorized (user.go). The executor's token reaches it on a pipe,
// never in its environment (see executor.EnvExecutorTokenFD).
func (a *Agent) startExecutorLocked(fwID mezzo.FrameworkID, info mezzo.ExecutorInfo, command bool, first *task) (ex *executorProc, err error) {
	a.execSeq++
	sandbox, err := a.newSandbox(fwID, info.ID, a.execSeq)
	if err != nil {
		return nil, err
	}
	ex = newExecutorProc(fwID, info, command, newID(), sandbox)
	ex.tasks[first.info.ID] = first
	id := fmt.Sprintf("%s-%d", newID()[:8], a.execSeq)

	u, err := a.containerUserFor(executorUser(info, first.info, a.frameworks[fwID].info), id)
	if err != nil {
		return nil, err
	}
	if u != nil {
		ex.hostUID, ex.hostGID, ex.isolated = u.hostUID, u.hostGID, u.isolated
		defer func() {
			if err != nil {
				a.releaseContainerUser(ex)
			}
		}()
		if err := os.Chown(sandbox, int(u.hostUID), int(u.hostGID)); err != nil {
			return nil, fmt.Errorf("sandbox for user %q: %w", u.name, err)
		}
	}

	var cmd *exec.Cmd
	if info.Command != nil {
		if info.Command.Shell {
			cmd = exec.Command("/bin/sh", "-c", info.Command.Value)
		} else {
			cmd = exec.Command(info.Command.Value, info.Command.Args...)
		}
	} else {
		kind := info.Kind
		if kind == "" {
			return nil, fmt.Errorf("executor %q has neither a command nor a kind", info.ID)
		}
		args := append(append([]string(nil), a.cfg.ExecutorArgs...), "--kind", kind)
		cmd = exec.Command(a.cfg.ExecutorPath, args...)
	}
	cmd.Dir = sandbox
	cmd.Env = append(os.Environ(), a.cfg.ExecutorEnv...)
	if info.Command != nil {
		cmd.Env = append(cmd.Env, info.Command.Env...)
	}
	caFile, err := a.writeSandboxCA(sandbox, u)
	if err != nil {
		return nil, err
	}
	token, err := tokenPipe(ex.token)
	if err != nil {
		return nil, err
	}
	defer token.Close()
	cmd.Env = append(cmd.Env,
		executor.EnvAgentEndpoint+"="+a.endpoint,
		executor.EnvAgentCA+"="+caFile,
		executor.EnvFrameworkID+"="+string(fwID),
		executor.EnvExecutorID+"="+string(info.ID),
		fmt.Sprintf("%s=%d", executor.EnvExecutorTokenFD, 3+len(cmd.ExtraFiles)),
		executor.EnvSandbox+"="+sandbox,
	)
	cmd.ExtraFiles = append(cmd.ExtraFiles, token)
	if d := a.cfg.ExecutorRecoveryTimeout; d > 0 {
		cmd.Env = append(cmd.Env, executor.EnvRecoveryTimeout+"="+d.String())
	}
	ex.size = a.containerSizeLocked(ex, nil)
	cmd.Env = append(cmd.Env, a.logEnvLocked(ex)...)
	stdout, err := createSandboxFile(filepath.Join(sandbox, "stdout"), u)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := createSandboxFile(filepath.Join(sandbox, "stderr"), u)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr

	if u != nil {
		u.apply(cmd)
	}
	c, err := a.iso.Start(id, cmd, ex.size.limits)
	if err != nil {
		return nil, err
	}
	ex.container, ex.containerID = c, id
	if ex.handle, err = isolation.HandleOf(id, cmd.Process.Pid); err != nil {
		// Gone already: without a start time, no restarted agent will
		// adopt it (Recover removes a cgroup it leaves).
		ex.handle = isolation.Handle{ID: id, Pid: cmd.Process.Pid}
	}
	a.frameworks[fwID].executors[info.ID] = ex
	a.log.Info("executor started", "framework", string(fwID), "executor", string(info.ID), "container", id,
		"sandbox", sandbox, "pid", cmd.Process.Pid, "host_uid", ex.hostUID)
	go a.waitExecutor(ex)
	return ex, nil
}

// tokenPipe returns the read end of a pipe holding token and nothing else:
// its write end is closed, so the executor reads the token to EOF. The
// token fits the pipe's buffer, so writing does not wait for a reader.
func tokenPipe(token string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("executor token pipe: %w", err)
	}
	_, err = w.WriteString(token)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("executor token pipe: %w", err)
	}
	return r, nil
}

// waitExecutor reaps an executor and settles its tasks: a held terminal
// update is released (a limitation's failure instead when the container
// was destroyed for one, limits.go) and unfinished tasks fail. Its
// sandbox is then scheduled for garbage collection.
func (a *Agent) waitExecutor(ex *executorProc) {
	go a.watchOOM(ex)
	info, err := ex.container.Wait()
	close(ex.exited)
	a.mu.Lock()
	detached := a.detached
	a.mu.Unlock()
	if detached {
		return // the agent's next run owns the container now
	}
	defer close(ex.settled)
	log := a.log.With("framework", string(ex.fw), "executor", string(ex.info.ID))
	if err != nil {
		log.Warn("waiting for executor", "err", err)
	}
	log.Info("executor exited", "how", info.String())
	if err := ex.container.Destroy(); err != nil {
		log.Warn("destroying container", "err", err)
	}
	a.finalLimits(ex, info)

	var settle []mezzo.TaskStatus
	a.mu.Lock()
	lim := ex.limited
	if fw := a.frameworks[ex.fw]; fw != nil && fw.executors[ex.info.ID] == ex {
		delete(fw.executors, ex.info.ID)
	}
	for _, t := range a.tasks {
		if t.exec != ex {
			continue
		}
		switch {
		case t.held != nil:
			s := *t.held
			t.held = nil
			// A task killed on request stays killed; any other end of a
			// destroyed container is the limitation's, also a command
			// that exited 0 after a child of it was OOM-killed.
			if lim != nil && s.State != mezzo.TaskKilled {
				s = limitedStatus(s, lim, "the task had reported "+s.State.String()+": "+s.Message)
			}
			settle = append(settle, s)
		case !t.state.Terminal() && ex.lost:
			settle = append(settle, mezzo.TaskStatus{TaskID: t.info.ID, ExecutorID: ex.info.ID, State: mezzo.TaskLost,
				Reason: mezzo.ReasonAgentRestarted, Message: fmt.Sprintf("agent restarted; the task's executor did not reconnect within %v", a.cfg.ExecutorReregisterTimeout)})
		case !t.state.Terminal():
			s := mezzo.TaskStatus{TaskID: t.info.ID, ExecutorID: ex.info.ID, State: mezzo.TaskFailed,
				Reason: mezzo.ReasonExecutorTerminated, Message: "executor " + info.String()}
			if lim != nil {
				s = limitedStatus(s, lim, "executor "+info.String())
			}
			settle = append(settle, s)
		}
	}
	a.mu.Unlock()
	for _, s := range settle {
		a.update(ex.fw, s)
	}
	// Only now that every end is stored: a crash before this point
	// leaves the checkpoint, and the next run settles from it (and
	// reclaims the sandbox).
	a.releaseContainerUser(ex)
	a.removeCheckpoint(ex.containerID)
	a.gc.schedule(ex.sandbox, time.Now())

	code := int32(info.Code)
	h := a.header()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if h.SessionId != "" {
		_, _ = a.client.ExecutorExited(ctx, &api.ExecutorExitedRequest{Header: h, FrameworkId: string(ex.fw),
			ExecutorId: string(ex.info.ID), Status: code, Message: info.String()})
	}
}

// shutdownExecutorLocked asks an executor to stop, and kills it after the
// grace period.
func (a *Agent) shutdownExecutorLocked(ex *executorProc) {
	if ex.shutdown {
		return
	}
	ex.shutdown = true
	grace := a.cfg.KillGracePeriod
	ex.send(&api.ExecutorEvent{Event: &api.ExecutorEvent_Shutdown_{Shutdown: &api.ExecutorEvent_Shutdown{GracePeriodNanos: int64(grace)}}})
	go func() {
		select {
		case <-ex.exited:
		case <-time.After(grace):
			_ = ex.container.Kill()
		}
	}()
}

func (a *Agent) kill(fw mezzo.FrameworkID, id mezzo.TaskID) {
	a.mu.Lock()
	t := a.tasks[streamKey{fw, id}]
	if t == nil || t.state.Terminal() || t.held != nil {
		a.mu.Unlock()
		if t == nil {
			a.update(fw, mezzo.TaskStatus{TaskID: id, State: mezzo.TaskLost, Reason: mezzo.ReasonTaskUnknown, Message: "task unknown to this agent"})
		}
		return
	}
	if t.timer != nil {
		if t.timer.Stop() {
			a.mu.Unlock()
			a.update(fw, mezzo.TaskStatus{TaskID: id, State: mezzo.TaskKilled})
			return
		}
		a.mu.Unlock()
		return
	}
	t.exec.send(&api.ExecutorEvent{Event: &api.ExecutorEvent_Kill_{Kill: &api.ExecutorEvent_Kill{TaskId: string(id), GracePeriodNanos: int64(a.cfg.KillGracePeriod)}}})
	a.mu.Unlock()
}

func (a *Agent) shutdownFramework(id mezzo.FrameworkID) {
	a.mu.Lock()
	var timers []*task
	if fw := a.frameworks[id]; fw != nil {
		for _, ex := range fw.executors {
			a.shutdownExecutorLocked(ex)
		}
	}
	for k, t := range a.tasks {
		if k.fw == id && t.timer != nil && !t.state.Terminal() {
			timers = append(timers, t)
		}
	}
	a.mu.Unlock()
	for _, t := range timers {
		if t.timer.Stop() {
			a.update(id, mezzo.TaskStatus{TaskID: t.info.ID, State: mezzo.TaskKilled, Reason: mezzo.ReasonFrameworkRemoved})
		}
	}
}

// shutdownAll stops every executor (Run is ending) and waits for them.
func (a *Agent) shutdownAll() {
	a.mu.Lock()
	a.closed = true
	var all []*executorProc
	for _, fw := range a.frameworks {
		for _, ex := range fw.executors {
			a.shutdownExecutorLocked(ex)
			all = append(all, ex)
		}
	}
	for _, t := range a.tasks {
		if t.timer != nil {
			t.timer.Stop()
		}
	}
	a.mu.Unlock()
	for _, ex := range all {
		<-ex.exited
	}
}

// detach ends the agent's hold on its executors without stopping them (Run
// is ending with Config.DetachOnStop): their checkpoints stay, and the next
// run on WorkDir reconnects to them. Emulated tasks stop.
func (a *Agent) detach() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed, a.detached = true, true
	for _, t := range a.tasks {
		if t.timer != nil {
			t.timer.Stop()
		}
	}
}

// executorServer is the ExecutorAPI the agent serves to its executors.
type executorServer struct {
	api.UnimplementedExecutorAPIServer
	a *Agent
}

// lookupLocked finds the calling executor and checks its token; the caller holds
// Agent.mu.
func (s *executorServer) lookupLocked(h *api.ExecutorHeader) (*executorProc, error) {
	fw := s.a.frameworks[mezzo.FrameworkID(h.GetFrameworkId())]
	if fw == nil {
		return nil, status.Errorf(codes.NotFound, "framework %q has no executors here", h.GetFrameworkId())
	}
	ex := fw.executors[mezzo.ExecutorID(h.GetExecutorId())]
	if ex == nil {
		return nil, status.Errorf(codes.NotFound, "executor %q of framework %q not known", h.GetExecutorId(), h.GetFrameworkId())
	}
	if subtle.ConstantTimeCompare([]byte(ex.token), []byte(h.GetToken())) != 1 {
		return nil, status.Error(codes.PermissionDenied, "wrong executor token")
	}
	return ex, nil
}

func (s *executorServer) Subscribe(req *api.ExecutorSubscribeRequest, stream grpc.ServerStreamingServer[api.ExecutorEvent]) error {
	a := s.a
	a.mu.Lock()
	ex, err := s.lookupLocked(req.Header)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	ex.subOnce.Do(func() { close(ex.subscribed) })
	fwInfo := a.frameworks[ex.fw].info
	first := &api.ExecutorEvent{Event: &api.ExecutorEvent_Subscribed_{Subscribed: &api.ExecutorEvent_Subscribed{
		Executor: api.ExecutorToProto(&ex.info), Framework: api.FrameworkToProto(fwInfo), AgentId: string(a.id)}}}
	a.mu.Unlock()
	for _, u := range req.UnacknowledgedUpdates {
		if _, err := s.Update(stream.Context(), &api.ExecutorUpdateRequest{Header: req.Header, Status: u}); err != nil {
			return err
		}
	}
	if err := stream.Send(first); err != nil {
		return err
	}
	for {
		a.mu.Lock()
		batch := ex.queue
		ex.queue = nil
		a.mu.Unlock()
		for i, ev := range batch {
			if err := stream.Send(ev); err != nil {
				// Give back what was not sent, for a re-subscription.
				a.mu.Lock()
				ex.queue = append(batch[i:], ex.queue...)
				a.mu.Unlock()
				return err
			}
		}
		select {
		case <-ex.notify:
		case <-ex.exited:
			return nil
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (s *executorServer) Update(ctx context.Context, req *api.ExecutorUpdateRequest) (*api.Empty, error) {
	a := s.a
	st, err := api.StatusFromProto(req.Status)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if st.UUID == "" || st.TaskID == "" {
		return nil, status.Error(codes.InvalidArgument, "status update needs a task_id and a uuid")
	}
	a.mu.Lock()
	ex, err := s.lookupLocked(req.Header)
	if err != nil {
		a.mu.Unlock()
		return nil, err
	}
	t := ex.tasks[st.TaskID]
	if t == nil {
		t = a.tasks[streamKey{ex.fw, st.TaskID}]
	}
	if t == nil || t.exec != ex {
		a.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "task %q does not belong to executor %q", st.TaskID, ex.info.ID)
	}
	if t.unstored {
		// The agent ended the task when an update of it could not be
		// stored (storefail.go); the executor need not retry this one.
		a.mu.Unlock()
		return &api.Empty{}, nil
	}
	st.AgentID, st.ExecutorID = a.id, ex.info.ID
	if st.State.Terminal() {
		delete(ex.tasks, st.TaskID)
		if ex.command {
			// Hold the result until the executor is reaped: only then
			// does the container say whether the kernel killed the task
			// for exceeding its memory.
			if t.held == nil && !t.state.Terminal() {
				held := st
				t.held = &held
				t.state = st.State
				a.checkpointLocked(ex)
			}
			a.shutdownExecutorLocked(ex)
			a.mu.Unlock()
			return &api.Empty{}, nil
		}
	}
	a.mu.Unlock()
	if _, err := a.store.appendUpdate(ex.fw, st, time.Now()); err != nil {
		a.endUnstored(ex.fw, st, err)
		// Unavailable: the executor keeps the update and retries.
		return nil, status.Errorf(codes.Unavailable, "status update not stored: %v", err)
	}
	a.mu.Lock()
	t.state = st.State
	if st.State.Terminal() {
		a.resizeContainerLocked(ex) // a shared executor's (a command executor's end is held above)
		a.checkpointLocked(ex)
	}
	a.mu.Unlock()
	return &api.Empty{}, nil
}

func (s *executorServer) Message(ctx context.Context, req *api.ExecutorMessageRequest) (*api.Empty, error) {
	a := s.a
	a.mu.Lock()
	ex, err := s.lookupLocked(req.Header)
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	_, err = a.client.Message(ctx, &api.AgentMessageRequest{Header: a.header(), FrameworkId: string(ex.fw), ExecutorId: string(ex.info.ID), Data: req.Data})
	return &api.Empty{}, err
}
