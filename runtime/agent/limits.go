package agent

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
	"github.com/mezzo-cluster/mezzo/runtime/isolation"
)

// Container limitations, as Mesos's isolators report them. The kernel
// enforces cpu, memory and pids by itself; what it cannot end on its own
// the agent watches and ends: a process of the container OOM-killed while
// the rest lives on (cgroup v1 kills only the biggest process), and a
// sandbox grown past the disk the executor and its tasks hold (disk.go).
// Either destroys the whole container, and its unfinished tasks fail with
// REASON_CONTAINER_LIMITATION_MEMORY or _DISK, also a command task whose
// process would have exited 0.

// limitation is why the agent destroyed a container.
type limitation struct {
	reason  mezzo.Reason
	message string
}

// resources are what the executor and its live tasks hold; the caller
// holds Agent.mu.
func (ex *executorProc) resources() mezzo.Resources {
	r := ex.info.Resources
	for _, t := range ex.tasks {
		r = r.Add(t.info.Resources)
	}
	return r
}

// diskQuota is a container's disk in bytes (disk is in megabytes, as in
// Mesos); 0 when it holds none (Config.ContainerDiskDefault then applies).
func diskQuota(r mezzo.Resources) int64 {
	return int64(math.Round(r.Get(mezzo.Disk) * (1 << 20)))
}

// containerLimitsLocked are the limits of ex's container: its resources,
// the agent's pids limit, and for a command executor with disk, its
// quota as the largest file (RLIMIT_FSIZE), so that one write cannot fill
// the disk between two measurements. Shared executors get no file size
// limit: their quota grows as tasks join, and raising an rlimit needs
// CAP_SYS_RESOURCE, which not every root has. They are recorded as the
// container's (ex.applied): like the cgroup's limits, they grow as tasks
// join and are not cut when tasks end, and the disk is checked against
// them also after the last task has ended. The caller holds Agent.mu.
func (a *Agent) containerLimitsLocked(ex *executorProc) isolation.Limits {
	r := ex.resources()
	l := isolation.LimitsFor(r)
	l.Pids = a.cfg.ContainerPidsMax
	q, byDefault := diskQuota(r), false
	if q == 0 && a.cfg.ContainerDiskDefault > 0 {
		q, byDefault = a.cfg.ContainerDiskDefault, true
	}
	if q > 0 && ex.command && !a.cfg.IgnoreDiskQuota {
		l.FileSize = q
	}
	ex.applied, ex.quota, ex.quotaByDefault = l, q, byDefault
	return l
}

// logEnvLocked tells a command executor how to rotate its task's output:
// files never larger than its file size limit, which would refuse the
// rest. The caller holds Agent.mu.
func (a *Agent) logEnvLocked(ex *executorProc) []string {
	size := a.cfg.ContainerLogMaxSize
	if fs := a.containerLimitsLocked(ex).FileSize; fs > 0 {
		size = min(size, fs)
	}
	return []string{
		executor.EnvLogMaxSize + "=" + strconv.FormatInt(size, 10),
		executor.EnvLogMaxFiles + "=" + strconv.Itoa(a.cfg.ContainerLogMaxFiles),
	}
}

// limit records l as the reason ex's container ends and kills it; a
// container already limited, or ended, keeps its first reason.
func (a *Agent) limit(ex *executorProc, l limitation) {
	if !a.recordLimit(ex, l) {
		return
	}
	a.log.Warn("container limitation; destroying it", "framework", string(ex.fw), "executor", string(ex.info.ID),
		"reason", string(l.reason), "message", l.message)
	if err := ex.container.Kill(); err != nil {
		a.log.Warn("killing a limited container", "executor", string(ex.info.ID), "err", err)
	}
}

// recordLimit sets ex's limitation unless it has one, or its tasks are
// settled already; it reports whether it did.
func (a *Agent) recordLimit(ex *executorProc, l limitation) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ex.limited != nil || closed(ex.settled) {
		return false
	}
	ex.limited = &l
	return true
}

// memoryLimitation says a process of ex's container was OOM-killed.
func (a *Agent) memoryLimitation(ex *executorProc) limitation {
	a.mu.Lock()
	mem := ex.applied.MemBytes
	a.mu.Unlock()
	return limitation{reason: mezzo.ReasonMemoryLimit, message: fmt.Sprintf(
		"memory limit reached: the kernel's OOM killer killed a process of the container (memory %s)", megabytes(mem))}
}

// watchOOM destroys ex's container as soon as the kernel OOM-kills any of
// its processes: on cgroup v1 the killer takes the biggest process, and a
// task whose child it took could otherwise carry on and finish.
func (a *Agent) watchOOM(ex *executorProc) {
	select {
	case <-ex.container.OOM():
		a.limit(ex, a.memoryLimitation(ex))
	case <-ex.exited:
	}
}

// finalLimits looks, once ex's process has ended, for a limitation the
// watchers had no time to see: an OOM kill read at the end, or a sandbox
// over its quota when the task ended (a write stopped at the file size
// limit, say) before the next measurement. With the disk quota not
// enforced the sandbox is not measured: the watcher has said, while the
// container ran, that it was over.
func (a *Agent) finalLimits(ex *executorProc, info isolation.ExitInfo) {
	if info.OOMKilled {
		a.recordLimit(ex, a.memoryLimitation(ex))
	}
	if a.cfg.IgnoreDiskQuota {
		return
	}
	if l, over := a.overQuota(ex); over {
		a.recordLimit(ex, l)
	}
}

// limitedStatus is the end of a task whose container was destroyed for l:
// TASK_FAILED for the limitation, saying what the task had reported, if
// anything.
func limitedStatus(s mezzo.TaskStatus, l *limitation, before string) mezzo.TaskStatus {
	s.State, s.Reason = mezzo.TaskFailed, l.reason
	s.Message = l.message
	if before != "" {
		s.Message += " (" + before + ")"
	}
	return s
}

// megabytes is b in MB (2^20 bytes, as resources count them) to two
// decimals, so that a usage just over a quota does not read as equal.
func megabytes(b int64) string {
	s := strconv.FormatFloat(float64(b)/(1<<20), 'f', 2, 64)
	s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	return s + " MB"
}
