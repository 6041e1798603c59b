package agent

import (
	"errors"
	"syscall"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// A task whose status update cannot be stored (the disk is full, the agent
// is out of descriptors, an I/O error) is ended by the agent: a task must
// not run on while what it reports may vanish with the agent's next
// restart, and its framework must hear an end instead of nothing. The
// update itself is kept in memory and sent (status.go). If it was not
// terminal, the agent kills the task and reports TASK_FAILED, with
// REASON_CONTAINER_LIMITATION_DISK when the disk is full and
// REASON_EXECUTOR_TERMINATED otherwise, and a message naming the error
// and the file; that report is sent from memory too if it cannot be stored
// either. Reconciliation then answers TASK_FAILED. The executor's later
// updates of the task are answered and dropped: the task's end is the
// agent's.

// endUnstored ends the task of u, an update the store took but could not
// write (err); it does nothing for other errors.
func (a *Agent) endUnstored(fw mezzo.FrameworkID, u mezzo.TaskStatus, err error) {
	var ns *notStoredError
	if !errors.As(err, &ns) {
		return
	}
	a.mu.Lock()
	t := a.tasks[streamKey{fw, u.TaskID}]
	if t == nil || t.unstored {
		a.mu.Unlock()
		return
	}
	t.unstored = true
	ending := !u.State.Terminal() && !t.state.Terminal()
	switch {
	case u.State.Terminal():
		t.state = u.State // its end is queued, only not on disk
	case ending:
		t.state = mezzo.TaskFailed
		if t.timer != nil {
			t.timer.Stop()
		}
	}
	if ex := t.exec; ex != nil && t.held == nil {
		delete(ex.tasks, u.TaskID)
		if ending {
			if ex.command {
				a.shutdownExecutorLocked(ex) // the executor is the task's alone
			} else {
				ex.send(&api.ExecutorEvent{Event: &api.ExecutorEvent_Kill_{Kill: &api.ExecutorEvent_Kill{
					TaskId: string(u.TaskID), GracePeriodNanos: int64(a.cfg.KillGracePeriod)}}})
			}
		}
		if !ex.command {
			a.resizeContainerLocked(ex)
		}
		a.checkpointLocked(ex)
	}
	a.mu.Unlock()
	if !ending {
		return
	}
	reason := mezzo.ReasonExecutorTerminated
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		reason = mezzo.ReasonDiskLimit
	}
	a.log.Error("a status update of the task cannot be stored; killing the task", "framework", string(fw), "task", string(u.TaskID), "err", err)
	a.update(fw, mezzo.TaskStatus{TaskID: u.TaskID, ExecutorID: u.ExecutorID, State: mezzo.TaskFailed, Reason: reason,
		Message: "the agent cannot store the task's status updates (" + err.Error() + "); task killed"})
}
