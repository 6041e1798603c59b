package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/isolation"
)

// Agent recovery (Mesos's --recover=reconnect). Executors outlive their
// agent: a crashed agent, or one stopped with Config.DetachOnStop, leaves
// them running. So that the next run on the same WorkDir can take them
// back, the agent checkpoints each executor (checkpointLocked) whenever its
// set of tasks changes, and the ExecutorAPI's address, which executors hold
// in their environment. On start (recoverExecutors) the isolator adopts the
// checkpointed containers that still run; their executors, tasks and
// frameworks are rebuilt in memory; Run then gives the executors
// ExecutorReregisterTimeout to re-subscribe (they retry for
// executor.Config.ReconnectTimeout, resending the updates the agent never
// confirmed) and kills those that do not. Tasks whose executor is gone are
// reported TASK_LOST, unless their terminal update was already stored or
// held in the checkpoint: every task ends with exactly one terminal state.
//
// Checkpoints are written with writeFileAtomic (a temporary file, synced
// and renamed), so a crash leaves the old or the new one, never a torn
// file (a temporary file left behind is removed on start). A checkpoint that
// cannot be read anyway (bit rot, a foreign write) costs its executor, not
// the agent: it is moved aside with an error, the container it named is
// unknown to the isolator's Recover (which removes it), and its tasks are
// not reported (the master declares them lost).

const (
	// checkpointDir holds one file per live executor, named by container.
	checkpointDir = "executors"
	// endpointFile holds the ExecutorAPI's address.
	endpointFile = "executor-api-address"
)

// Recover modes (Config.Recover).
const (
	RecoverReconnect = "reconnect"
	RecoverCleanup   = "cleanup"
)

// checkpoint is what a later run needs to take an executor back.
type checkpoint struct {
	Framework json.RawMessage   `json:"framework"` // api.FrameworkInfo
	Executor  json.RawMessage   `json:"executor"`  // api.ExecutorInfo
	Command   bool              `json:"command"`
	Token     string            `json:"token"`
	Sandbox   string            `json:"sandbox"`
	Container isolation.Handle  `json:"container"`
	Tasks     []json.RawMessage `json:"tasks"` // api.TaskInfo of its live tasks
	// Held are command executors' terminal updates the agent holds until
	// the executor is reaped (see executorServer.Update); the executor
	// considers them delivered.
	Held []mezzo.TaskStatus `json:"held,omitempty"`
	// HostUID and HostGID run the executor and own its sandbox (0: root
	// or the agent's user); Isolated says they were allocated for it from
	// the container range. A later run keeps them out of use while the
	// executor lives, and hands its sandbox back to root once it is gone.
	HostUID  uint32 `json:"host_uid,omitempty"`
	HostGID  uint32 `json:"host_gid,omitempty"`
	Isolated bool   `json:"isolated,omitempty"`
	// Size is what the container was last given (limits.go), so that a
	// later run does not size it below that; absent from the checkpoints
	// of earlier versions, whose containers are sized from their tasks.
	Size *checkpointSize `json:"size,omitempty"`
}

type checkpointSize struct {
	Limits             isolation.Limits `json:"limits"`
	DiskQuota          int64            `json:"disk_quota,omitempty"`
	DiskQuotaByDefault bool             `json:"disk_quota_by_default,omitempty"`
}

func (a *Agent) checkpointPath(containerID string) string {
	return filepath.Join(a.cfg.WorkDir, checkpointDir, containerID+".json")
}

// checkpointLocked records ex and its tasks; the caller holds Agent.mu.
func (a *Agent) checkpointLocked(ex *executorProc) {
	if ex.containerID == "" || a.detached {
		return
	}
	cp := checkpoint{Command: ex.command, Token: ex.token, Sandbox: ex.sandbox, Container: ex.handle,
		HostUID: ex.hostUID, HostGID: ex.hostGID, Isolated: ex.isolated,
		Size: &checkpointSize{Limits: ex.size.limits, DiskQuota: ex.size.quota, DiskQuotaByDefault: ex.size.quotaByDefault}}
	var err error
	if cp.Framework, err = protojson.Marshal(api.FrameworkToProto(a.frameworks[ex.fw].info)); err == nil {
		cp.Executor, err = protojson.Marshal(api.ExecutorToProto(&ex.info))
	}
	var tasks []*task
	for _, t := range a.tasks {
		if t.exec == ex && (t.held != nil || !t.state.Terminal()) {
			tasks = append(tasks, t)
		}
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].info.ID < tasks[j].info.ID })
	for _, t := range tasks {
		if err != nil {
			break
		}
		var b []byte
		b, err = protojson.Marshal(api.TaskToProto(t.info))
		cp.Tasks = append(cp.Tasks, b)
		if t.held != nil {
			cp.Held = append(cp.Held, *t.held)
		}
	}
	var b []byte
	if err == nil {
		b, err = json.Marshal(cp)
	}
	if err != nil {
		a.log.Error("checkpointing executor; a restarted agent will not reconnect to it", "executor", string(ex.info.ID), "err", err)
		return
	}
	// One the disk refuses is logged and retried (statefiles.go).
	path := a.checkpointPath(ex.containerID)
	_ = a.state.put(path, "a restarted agent does not take back executor "+string(ex.info.ID)+" as it is now",
		func() error { return writeFileAtomic(path, b) })
}

func (a *Agent) removeCheckpoint(containerID string) {
	path := a.checkpointPath(containerID)
	a.state.drop(path) // before the file goes: a retry must not bring it back
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Warn("removing executor checkpoint", "container", containerID, "err", err)
	}
}

type loadedCheckpoint struct {
	containerID string
	cp          checkpoint
	fw          mezzo.FrameworkInfo
	info        mezzo.ExecutorInfo
	tasks       []mezzo.TaskInfo
}

// loadCheckpoints reads the executor checkpoints of a previous run. A file
// that cannot be read is reported and moved aside (kept for inspection):
// its container is then unknown to Recover, which kills it (cgroups), and
// its tasks are lost.
func (a *Agent) loadCheckpoints() []loadedCheckpoint {
	dir := filepath.Join(a.cfg.WorkDir, checkpointDir)
	tmps, _ := filepath.Glob(filepath.Join(dir, "*"+tmpExt))
	for _, f := range tmps {
		_ = os.Remove(f) // a write that never got renamed into place
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	sort.Strings(files)
	var out []loadedCheckpoint
	for _, f := range files {
		l, err := readCheckpoint(f)
		if err != nil {
			aside := f + "." + time.Now().UTC().Format("20060102T150405.000000000") + corruptExt
			if rerr := os.Rename(f, aside); rerr != nil {
				aside = ""
				_ = os.Remove(f)
			}
			a.log.Error("unreadable executor checkpoint; its executor will not be recovered and its tasks are not reported",
				"file", f, "moved_to", aside, "err", err)
			continue
		}
		out = append(out, l)
	}
	return out
}

func readCheckpoint(file string) (loadedCheckpoint, error) {
	l := loadedCheckpoint{containerID: strings.TrimSuffix(filepath.Base(file), ".json")}
	b, err := os.ReadFile(file)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, &l.cp); err != nil {
		return l, err
	}
	if l.cp.Container.ID != l.containerID {
		return l, fmt.Errorf("container %q, but the file is named for %q", l.cp.Container.ID, l.containerID)
	}
	var fw api.FrameworkInfo
	if err := protojson.Unmarshal(l.cp.Framework, &fw); err != nil {
		return l, fmt.Errorf("framework: %w", err)
	}
	if l.fw, err = api.FrameworkFromProto(&fw); err != nil {
		return l, fmt.Errorf("framework: %w", err)
	}
	var ex api.ExecutorInfo
	if err := protojson.Unmarshal(l.cp.Executor, &ex); err != nil {
		return l, fmt.Errorf("executor: %w", err)
	}
	info, err := api.ExecutorFromProto(&ex)
	if err != nil || info == nil {
		return l, fmt.Errorf("executor: %v", err)
	}
	l.info = *info
	for i, raw := range l.cp.Tasks {
		var p api.TaskInfo
		if err := protojson.Unmarshal(raw, &p); err != nil {
			return l, fmt.Errorf("task %d: %w", i, err)
		}
		t, err := api.TaskFromProto(&p)
		if err != nil {
			return l, fmt.Errorf("task %d: %w", i, err)
		}
		l.tasks = append(l.tasks, t)
	}
	return l, nil
}

// recoverExecutors takes back the executors a previous run checkpointed
// (see the top of this file) and returns the tasks it recovered, which New
// must not report lost. With Recover "cleanup" every one of them is killed.
func (a *Agent) recoverExecutors(latest map[streamKey]mezzo.TaskStatus) map[streamKey]bool {
	recovered := map[streamKey]bool{}
	cps := a.loadCheckpoints()
	handles := make([]isolation.Handle, 0, len(cps))
	for _, l := range cps {
		handles = append(handles, l.cp.Container)
	}
	adopted, removed, err := a.iso.Recover(handles)
	if err != nil {
		a.log.Warn("recovering containers of a previous run", "err", err)
	}
	if len(removed) > 0 {
		a.log.Info("removed containers of a previous run", "containers", removed)
	}
	if a.cfg.Recover == RecoverCleanup {
		for id, c := range adopted {
			_ = c.Kill()
			if err := c.Destroy(); err != nil {
				a.log.Warn("killing an executor of a previous run", "container", id, "err", err)
			}
		}
		adopted = nil
	}
	now := time.Now()
	for _, l := range cps {
		held := map[mezzo.TaskID]mezzo.TaskStatus{}
		for _, s := range l.cp.Held {
			held[s.TaskID] = s
		}
		c := adopted[l.containerID]
		if c == nil {
			// The executor is gone. A held terminal update is the task's
			// real end; the rest are reported lost by New, including a
			// task that never sent an update (it has no stream yet).
			for _, t := range l.tasks {
				k := streamKey{l.fw.ID, t.ID}
				last, seen := latest[k]
				if s, ok := held[t.ID]; ok && !last.State.Terminal() {
					if _, err := a.store.appendUpdate(l.fw.ID, s, now); err != nil {
						a.log.Error("storing a held status update", "task", string(t.ID), "err", err)
					}
					latest[k] = s
				} else if !seen {
					latest[k] = mezzo.TaskStatus{TaskID: t.ID, ExecutorID: l.info.ID, State: mezzo.TaskStaging}
				}
			}
			if err := reclaimSandbox(l.cp.Sandbox, l.cp.HostUID); err != nil {
				// The directory at least is made root's 0700 by
				// secureWorkDir, closed to the uid's next holder (which the
				// cursor reaches only once the range has gone round).
				a.log.Error("handing the sandbox of a gone executor back to root", "sandbox", l.cp.Sandbox, "err", err)
			}
			a.removeCheckpoint(l.containerID)
			continue
		}
		fw := a.frameworkLocked(l.fw)
		ex := newExecutorProc(l.fw.ID, l.info, l.cp.Command, l.cp.Token, l.cp.Sandbox)
		ex.container, ex.containerID, ex.handle, ex.adopted = c, l.containerID, l.cp.Container, true
		ex.hostUID, ex.hostGID, ex.isolated = l.cp.HostUID, l.cp.HostGID, l.cp.Isolated
		if ex.isolated && a.uids != nil {
			a.uids.hold(ex.hostUID, l.containerID)
		}
		for _, ti := range l.tasks {
			k := streamKey{l.fw.ID, ti.ID}
			last, seen := latest[k]
			if last.State.Terminal() {
				continue // ended, and its end is stored
			}
			tk := &task{fw: l.fw.ID, info: ti, state: mezzo.TaskStaging, exec: ex}
			if seen {
				tk.state = last.State
			}
			if s, ok := held[ti.ID]; ok {
				tk.held, tk.state = &s, s.State
			} else {
				ex.tasks[ti.ID] = tk
				if !seen {
					// No word of the task ever reached the agent: its
					// launch may have been queued here and lost with the
					// previous run. Send it again; the executor ignores a
					// launch of a task it already has.
					ex.send(launchEvent(ti))
				}
			}
			a.tasks[k] = tk
			recovered[k] = true
		}
		fw.executors[l.info.ID] = ex
		// Its container keeps what the previous run gave it; the record
		// is what its disk is watched against, and the floor of its next
		// resize.
		var floor *containerSize
		if s := l.cp.Size; s != nil {
			floor = &containerSize{limits: s.Limits, quota: s.DiskQuota, quotaByDefault: s.DiskQuotaByDefault}
		}
		ex.size = a.containerSizeLocked(ex, floor)
		a.adopted = append(a.adopted, ex)
		a.log.Info("executor of a previous run adopted", "framework", string(l.fw.ID), "executor", string(l.info.ID),
			"container", l.containerID, "tasks", len(ex.tasks))
	}
	return recovered
}

// listenExecutorAPI listens where the previous run did when Config.Listen
// leaves the port to the system: the executors it left know that address.
func (a *Agent) listenExecutorAPI() (net.Listener, error) {
	file := filepath.Join(a.cfg.WorkDir, endpointFile)
	var lis net.Listener
	if host, port, err := net.SplitHostPort(a.cfg.Listen); err == nil && port == "0" {
		if b, err := os.ReadFile(file); err == nil {
			prev := strings.TrimSpace(string(b))
			if ph, _, err := net.SplitHostPort(prev); err == nil && ph == host {
				if lis, err = net.Listen("tcp", prev); err != nil {
					a.log.Warn("cannot listen on the previous executor API address; executors of the previous run cannot reconnect",
						"address", prev, "err", err)
				}
			}
		}
	}
	if lis == nil {
		var err error
		if lis, err = net.Listen("tcp", a.cfg.Listen); err != nil {
			return nil, fmt.Errorf("agent: executor API listen %q: %w", a.cfg.Listen, err)
		}
	}
	// Not fatal when the disk refuses (it must not keep the agent down):
	// logged and retried (statefiles.go).
	addr := []byte(lis.Addr().String() + "\n")
	_ = a.state.put(file, "a restarted agent may listen elsewhere, and the executors started now cannot reconnect to it",
		func() error { return writeFileAtomic(file, addr) })
	return lis, nil
}

// awaitReregistration gives adopted executors until
// ExecutorReregisterTimeout to subscribe again, then kills the rest: an
// executor that cannot reach its agent cannot run tasks for it. Run calls
// it before registering with the master, so that the tasks it reports are
// ones the agent is in touch with.
func (a *Agent) awaitReregistration(ctx context.Context) {
	a.mu.Lock()
	adopted := a.adopted
	a.adopted = nil
	a.mu.Unlock()
	if len(adopted) == 0 {
		return
	}
	deadline := time.NewTimer(a.cfg.ExecutorReregisterTimeout)
	defer deadline.Stop()
wait:
	for _, ex := range adopted {
		select {
		case <-ex.subscribed:
		case <-ex.exited:
		case <-ctx.Done():
			return
		case <-deadline.C:
			break wait
		}
	}
	var late []*executorProc
	for _, ex := range adopted {
		if !closed(ex.subscribed) && !closed(ex.exited) {
			late = append(late, ex)
		}
	}
	for _, ex := range late {
		a.log.Warn("executor of a previous run did not reconnect; killing it", "framework", string(ex.fw),
			"executor", string(ex.info.ID), "timeout", a.cfg.ExecutorReregisterTimeout)
		a.mu.Lock()
		ex.lost = true
		a.mu.Unlock()
		if err := ex.container.Kill(); err != nil {
			a.log.Warn("killing executor", "executor", string(ex.info.ID), "err", err)
		}
	}
	// Let their tasks be settled before the master hears which run.
	for _, ex := range late {
		select {
		case <-ex.settled:
		case <-time.After(10 * time.Second):
		case <-ctx.Done():
			return
		}
	}
}

// nextExecSeq continues the sandbox numbering of previous runs, so a new
// executor never reuses the sandbox of an old one.
func nextExecSeq(workDir string) int {
	dirs, _ := filepath.Glob(filepath.Join(workDir, sandboxesDir, "f-*", "e-*"))
	seq := 0
	for _, d := range dirs {
		if i := strings.LastIndexByte(d, '-'); i >= 0 {
			if n, err := strconv.Atoi(d[i+1:]); err == nil {
				seq = max(seq, n)
			}
		}
	}
	return seq
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
