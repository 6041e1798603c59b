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

// containerSize is what a container is given: the isolator's limits and
// the disk quota the agent holds its sandbox to.
type containerSize struct {
	limits isolation.Limits
	// quota is its disk in bytes (0: none); quotaByDefault, that it is
	// Config.ContainerDiskDefault, the executor and its tasks declaring no
	// disk.
	quota          int64
	quotaByDefault bool
}

// containerSizeLocked is the size ex's container is to have now; the
// caller holds Agent.mu. As in Mesos, a container is sized to its
// executor's and its live tasks' resources, and resized whenever a task
// joins or ends (resizeContainerLocked): cpu follows the live tasks at
// once, a task that ends giving its share back. Memory and disk are never
// lowered below floor, the container's size until now (nil: at its
// start), and a container without a limit keeps none: the memory an
// executor holds, and the files an ended task left in a shared sandbox,
// stay with the container, and a lower limit would have the kernel kill
// it (or the agent destroy it for its disk) when another task joins.
// Mesos's memory isolator likewise only ever raises the hard limit; its
// disk/du isolator lowers the quota, which mezzo does not.
//
// The agent's pids limit applies to every container. A command
// executor with a quota also has it as its largest file (RLIMIT_FSIZE,
// when the quota is enforced), so that one write cannot fill the disk
// between two measurements. Shared executors get no file size limit:
// their quota grows as tasks join, and raising an rlimit needs
// CAP_SYS_RESOURCE, which not every root has.
func (a *Agent) containerSizeLocked(ex *executorProc, floor *containerSize) containerSize {
	r := ex.resources()
	s := containerSize{limits: isolation.LimitsFor(r), quota: diskQuota(r)}
	s.limits.Pids = a.cfg.ContainerPidsMax
	if s.quota == 0 && a.cfg.ContainerDiskDefault > 0 {
		s.quota, s.quotaByDefault = a.cfg.ContainerDiskDefault, true
	}
	if floor != nil {
		if floor.limits.MemBytes == 0 || floor.limits.MemBytes > s.limits.MemBytes {
			s.limits.MemBytes = floor.limits.MemBytes
		}
		if floor.quota == 0 || floor.quota > s.quota {
			s.quota, s.quotaByDefault = floor.quota, floor.quotaByDefault
		}
	}
	if s.quota > 0 && ex.command && !a.cfg.IgnoreDiskQuota {
		s.limits.FileSize = s.quota
	}
	return s
}

// resizeContainerLocked gives ex's running container the size of its
// executor and live tasks (containerSizeLocked), after a task joined or
// ended; the caller holds Agent.mu.
func (a *Agent) resizeContainerLocked(ex *executorProc) {
	size := a.containerSizeLocked(ex, &ex.size)
	if size == ex.size || closed(ex.exited) {
		return
	}
	ex.size = size
	if err := ex.container.Update(size.limits); err != nil {
		a.log.Warn("resizing a container", "framework", string(ex.fw), "executor", string(ex.info.ID), "limits", size.limits.String(), "err", err)
	}
}

// logEnvLocked tells a command executor how to rotate its task's output:
// files never larger than its file size limit (ex.size, set before it
// starts), which would refuse the rest. The caller holds Agent.mu.
func (a *Agent) logEnvLocked(ex *executorProc) []string {
	size := a.cfg.ContainerLogMaxSize
	if fs := ex.size.limits.FileSize; fs > 0 {
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
	mem := ex.size.limits.MemBytes
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
