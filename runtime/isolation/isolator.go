package isolation

import (
	"fmt"
	"math"
	"os/exec"
	"strings"
	"syscall"

	"github.com/mezzo-cluster/mezzo"
)

// Isolator starts processes inside containers. Implementations are safe for
// concurrent use.
type Isolator interface {
	// Name says which isolator this is, and whether it isolates at all.
	Name() string
	// Start starts cmd, which must not have been started, inside a new
	// container named id with the given limits. The process is inside the
	// container before it runs any of the command's own code. id must be
	// unique among the live containers of this isolator.
	Start(id string, cmd *exec.Cmd, limits Limits) (Container, error)
	// Recover takes over what a previous run left behind (an agent that
	// crashed, or stopped leaving its executors running, destroys nothing).
	// Every container in known whose started process still runs is
	// adopted and returned by ID; every other container of the previous run that the isolator can
	// find is killed and removed, and named in removed. Recover(nil) is a
	// plain cleanup. Call it once, before the first Start.
	//
	// An adopted container's process is not a child of this process, so
	// its exit status cannot be read: its Wait reports ExitInfo.Unknown
	// (and still whether the container was OOM-killed, where the isolator
	// can tell).
	Recover(known []Handle) (adopted map[string]Container, removed []string, err error)
}

// Handle is what an agent checkpoints about a container so that a later
// run can adopt it with Recover.
type Handle struct {
	ID string `json:"id"`
	// Pid is the started process.
	Pid int `json:"pid"`
	// StartTime is the process's start time in clock ticks after boot
	// (field 22 of /proc/PID/stat): a pid reused by another process since
	// has another start time, so it is never mistaken for the container.
	StartTime uint64 `json:"start_time"`
}

// HandleOf describes container id whose started process is pid. It fails
// when the process is already gone; such a container has nothing to adopt.
func HandleOf(id string, pid int) (Handle, error) {
	start, _, err := procStat(pid)
	if err != nil {
		return Handle{}, fmt.Errorf("isolation: container %s: %w", id, err)
	}
	return Handle{ID: id, Pid: pid, StartTime: start}, nil
}

// Container is one started process and everything it forks. Its methods are
// safe for concurrent use.
type Container interface {
	// Wait waits for the started process to exit and reports how it ended.
	// It may be called any number of times, from any goroutine.
	Wait() (ExitInfo, error)
	// Kill sends SIGKILL to every process in the container, including
	// children that left the started process's process group.
	Kill() error
	// Update changes the limits of the running container, e.g. when another
	// task joins its executor.
	Update(limits Limits) error
	// Destroy kills whatever still runs and removes the container; nothing
	// of it is left on the machine afterwards. Call it after Wait.
	Destroy() error
	// OOM is closed once the kernel's OOM killer is seen to have killed a
	// process of the container: while it runs (checked every quarter of a second),
	// or when its started process ends. A child killed inside a
	// container whose started process survives is seen too. It is never
	// closed by an isolator that cannot tell (process).
	OOM() <-chan struct{}
}

// Limits are the resources a container may use. A zero field means
// "unlimited".
type Limits struct {
	// CPUs is the number of CPUs, e.g. 0.5. It sets both the container's
	// share when CPUs are contended and a hard CFS quota of CPUs*period.
	CPUs float64
	// MemBytes is the memory limit in bytes, swap included: a container
	// that needs more is killed by the kernel (ExitInfo.OOMKilled).
	MemBytes int64
	// Pids is the most processes and threads the container may hold at
	// once (the pids controller's pids.max): a fork or thread creation
	// past it fails with EAGAIN, so a fork bomb stays inside its
	// container, and Kill still ends it.
	Pids int64
	// FileSize is the largest file, in bytes, the started process and
	// everything it starts may write (RLIMIT_FSIZE, soft and hard): a
	// write past it fails with EFBIG and raises SIGXFSZ, whose default
	// action ends the writer. It is set before the process runs any of
	// its own code, by the process itself (so it binds a process of
	// another user without privilege); Update changes it for the started
	// process only (what it already started keeps the old limit, what it
	// starts next inherits the new one), which for a process of another
	// user, or to raise it, needs CAP_SYS_RESOURCE.
	FileSize int64
}

// LimitsFor converts a resource bundle (mem in megabytes, as in Mesos) to
// limits. Resources other than cpus and mem are not enforced by the
// isolator (the agent holds containers to their disk, and sets Pids and
// FileSize itself).
func LimitsFor(r mezzo.Resources) Limits {
	return Limits{
		CPUs:     r.Get(mezzo.CPUs),
		MemBytes: int64(math.Round(r.Get(mezzo.Mem) * (1 << 20))),
	}
}

func (l Limits) String() string {
	cpus, mem := "unlimited", "unlimited"
	if l.CPUs > 0 {
		cpus = fmt.Sprintf("%g", l.CPUs)
	}
	if l.MemBytes > 0 {
		mem = fmt.Sprintf("%d bytes", l.MemBytes)
	}
	s := "cpus " + cpus + ", mem " + mem
	if l.Pids > 0 {
		s += fmt.Sprintf(", pids %d", l.Pids)
	}
	if l.FileSize > 0 {
		s += fmt.Sprintf(", file size %d bytes", l.FileSize)
	}
	return s
}

func (l Limits) validate() error {
	if math.IsNaN(l.CPUs) || math.IsInf(l.CPUs, 0) || l.CPUs < 0 {
		return fmt.Errorf("limits: cpus %v is not a non-negative number", l.CPUs)
	}
	if l.MemBytes < 0 {
		return fmt.Errorf("limits: memory %d bytes is negative", l.MemBytes)
	}
	if l.Pids < 0 {
		return fmt.Errorf("limits: pids %d is negative", l.Pids)
	}
	if l.FileSize < 0 {
		return fmt.Errorf("limits: file size %d bytes is negative", l.FileSize)
	}
	return nil
}

// ExitInfo says how a container's started process ended.
type ExitInfo struct {
	// Code is the exit status, or -1 when the process was killed by a signal.
	Code int
	// Signal is the signal that killed the process, 0 if it exited.
	Signal syscall.Signal
	// OOMKilled reports that the kernel killed a process of the container
	// (not necessarily the started one) because the container reached its
	// memory limit.
	OOMKilled bool
	// Unknown reports that the process ended while it was not this
	// process's child (an adopted container, see Isolator.Recover), so
	// its exit status could not be read; Code is then -1.
	Unknown bool
}

// Success reports a clean exit with status 0 and no OOM kill.
func (e ExitInfo) Success() bool {
	return e.Code == 0 && e.Signal == 0 && !e.OOMKilled && !e.Unknown
}

// String describes the end for a task status message, e.g.
// "killed by signal killed: memory limit reached".
func (e ExitInfo) String() string {
	var s string
	if e.Unknown {
		s = "exited with unknown status (adopted after an agent restart)"
	} else if e.Signal != 0 {
		s = "killed by signal " + e.Signal.String()
	} else {
		s = fmt.Sprintf("exited with status %d", e.Code)
	}
	if e.OOMKilled {
		s += ": memory limit reached"
	}
	return s
}

func exitInfoOf(ps interface{ Sys() any }) ExitInfo {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return ExitInfo{Code: -1}
	}
	if ws.Signaled() {
		return ExitInfo{Code: -1, Signal: ws.Signal()}
	}
	return ExitInfo{Code: ws.ExitStatus()}
}

// Options configure an isolator. The zero value is the default.
type Options struct {
	// Parent is the cgroup that holds the containers (cgroups only). A
	// relative name (the default is "mezzo") is placed under the agent's
	// own cgroup, so containers stay inside whatever limits the agent was
	// given and a service manager keeps seeing them as the agent's; an
	// absolute path ("/mezzo") starts at the root of the hierarchy.
	Parent string
}

// DefaultParent is the cgroup that holds containers when Options.Parent is
// empty.
const DefaultParent = "mezzo"

// Kinds are the names New accepts.
var Kinds = []string{"cgroups", "process"}

// New returns the isolator of the given kind ("cgroups" or "process"). A
// "cgroups" isolator that cannot work on this machine (not root, no cgroup
// file system, a controller missing) is an error that says why, never a
// silent fallback.
func New(kind string, opts Options) (Isolator, error) {
	switch kind {
	case "cgroups":
		return newCgroups(opts)
	case "process":
		return newProcess(), nil
	default:
		return nil, fmt.Errorf("isolation: unknown isolator %q (known: %s)", kind, strings.Join(Kinds, ", "))
	}
}

// checkID rejects names that would escape the parent cgroup or that the
// cgroup file system cannot hold.
func checkID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("isolation: empty container id")
	case id == "." || id == "..":
		return fmt.Errorf("isolation: container id %q is not a valid directory name", id)
	case strings.ContainsAny(id, "/\x00\n"):
		return fmt.Errorf("isolation: container id %q contains '/', a newline or NUL", id)
	case len(id) > 200:
		return fmt.Errorf("isolation: container id %q is longer than 200 bytes", id)
	}
	return nil
}
