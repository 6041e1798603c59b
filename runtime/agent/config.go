package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
	"github.com/mezzo-cluster/mezzo/runtime/security"
	"google.golang.org/grpc"
)

// Config configures an agent. Zero values take the defaults noted.
type Config struct {
	// Master is the host:port of the master's AgentAPI, or several
	// separated by commas (standbys redirect to the leader).
	Master string
	// MasterConn, when set, is used instead of dialling Master: a
	// connection that follows the leading master, which many emulated
	// agents may share (api.DialMasters).
	MasterConn *api.MasterConn
	// Discover, when set, names the leading master (e.g. read from etcd)
	// after the master is lost and no standby named the leader.
	Discover func(ctx context.Context) (string, error)
	// Conn, when set, is used instead of dialling Master; in-process
	// benchmark agents share one connection to keep memory small.
	Conn grpc.ClientConnInterface
	// Hostname reported to the master; default os.Hostname().
	Hostname string
	// Resources offered; empty means detected from the machine
	// (see DetectResources).
	Resources  mezzo.Resources
	Attributes []mezzo.Attribute
	// WorkDir holds the agent ID, executor sandboxes and the status update
	// streams. Required unless Emulated.
	WorkDir string
	// Isolation is the isolator kind, "process" (default) or "cgroups".
	Isolation string
	// CgroupParent is the parent cgroup for "cgroups" (default "mezzo").
	CgroupParent string
	// ExecutorPath and ExecutorArgs start an executor of a registered kind:
	// the agent runs ExecutorPath with ExecutorArgs followed by
	// "--kind", kind. Defaults: os.Executable() and ["executor"], i.e.
	// `mezzo executor --kind command`.
	ExecutorPath string
	ExecutorArgs []string
	// ExecutorEnv is added to every executor's environment.
	ExecutorEnv []string
	// TaskUsers says who tasks run as on the host, when the agent is root
	// (an agent that is not root runs everything as itself, and says so):
	// TaskUsersIsolated (the default) runs each container in a user
	// namespace of its own that maps the task's user (the one the master
	// authorized) to a host uid and gid allocated for that container from
	// ContainerUIDs, so that no two containers share a host uid even when
	// their tasks are the same user; TaskUsersHost runs tasks as the real
	// host users (tenants running as the same user can then read and
	// signal each other's tasks and sandboxes). A task that names no user
	// runs as the agent's user either way.
	TaskUsers string
	// ContainerUIDs is the range of host uids (and gids) isolated
	// containers get; default DefaultContainerUIDs. New refuses a range
	// that a user or group of the machine has (CheckContainerUIDs).
	ContainerUIDs UIDRange
	// ContainerUIDState is the machine-wide file that records which uids
	// of each range the agents of this machine have handed out, so that
	// none hands out a uid another one (or an earlier run) still uses;
	// default DefaultContainerUIDState. Every agent of a machine should
	// share it.
	ContainerUIDState string
	// Listen is where the ExecutorAPI listens; default "127.0.0.1:0". With
	// port 0 a restarted agent listens where its previous run did, which
	// is where that run's executors look for it.
	Listen string
	// Recover says what New does with the executors a previous run on
	// WorkDir left running (after a crash, or DetachOnStop):
	// RecoverReconnect (the default) adopts them and their tasks, as
	// Mesos's --recover=reconnect; RecoverCleanup kills them, so their
	// tasks are reported TASK_LOST. Emulated agents recover nothing.
	Recover string
	// ExecutorReregisterTimeout is how long adopted executors have to
	// reconnect before they are killed and their tasks reported lost
	// (default 5 s; Mesos's executor_reregistration_timeout is 2 s).
	ExecutorReregisterTimeout time.Duration
	// DetachOnStop makes Run, when ctx ends, leave the executors running
	// for the next run to reconnect to (an agent upgrade that does not
	// disturb tasks), instead of shutting them down. Executors give up on
	// an agent that does not come back within ExecutorRecoveryTimeout and
	// end their tasks.
	DetachOnStop bool
	// ExecutorRecoveryTimeout is how long the executors this agent starts
	// wait for it when it goes away (a crash, a restart, an upgrade)
	// before they end their tasks: executor.Config.ReconnectTimeout,
	// passed in their environment. Default 15 s; Mesos's recovery_timeout
	// is 15 min. Executors keep the value they were started with.
	ExecutorRecoveryTimeout time.Duration
	// StatusRetry is the first resend delay of an unacknowledged status
	// update (default 10 s, as Mesos); it doubles up to StatusRetryMax
	// (default 10 min).
	StatusRetry    time.Duration
	StatusRetryMax time.Duration
	// KillGracePeriod is how long an executor asked to shut down has before
	// it is killed (default 5 s).
	KillGracePeriod time.Duration
	// ContainerPidsMax is the most processes and threads one container
	// may hold (pids.max; default 1024), so a fork bomb stays in its
	// container. The process isolator cannot enforce it.
	ContainerPidsMax int64
	// IgnoreDiskQuota makes the agent only measure sandboxes, not kill a
	// container that uses more disk than the executor and its tasks hold
	// (Mesos's --enforce_container_disk_quota=false; enforced by default).
	IgnoreDiskQuota bool
	// ContainerDiskWatchInterval is how often each sandbox's disk usage is
	// measured against its quota (default 15 s, Mesos's
	// container_disk_watch_interval).
	ContainerDiskWatchInterval time.Duration
	// ContainerDiskDefault is the disk quota, in bytes, of a container
	// whose executor and tasks declare no disk (default 1 GiB; negative:
	// none, as in Mesos). Mesos leaves such a container unlimited, which
	// lets a tenant fill the agent's disk just by declaring none.
	ContainerDiskDefault int64
	// ContainerLogMaxSize and ContainerLogMaxFiles rotate command tasks'
	// stdout and stderr: files of at most this many bytes (default
	// 10 MiB; never above a task's disk quota), and this many rotated
	// ones kept per stream (default 2).
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int
	// GCDelay is how long the sandbox of an ended executor is kept
	// (default one week, Mesos's gc_delay). Every DiskWatchInterval
	// (default 1 min) the work dir's file system is measured, and
	// sandboxes older than GCDelay × max(0, 1 − GCDiskHeadroom − usage)
	// are removed sooner, oldest first (GCDiskHeadroom default 0.1, as
	// Mesos's gc_disk_headroom).
	GCDelay           time.Duration
	GCDiskHeadroom    float64
	DiskWatchInterval time.Duration
	// ReconnectDelay is the first wait before re-subscribing to a lost
	// master (default 1 s, doubling to ReconnectMax, default 30 s).
	ReconnectDelay time.Duration
	ReconnectMax   time.Duration
	// Emulated agents start no processes: a task produces TASK_RUNNING and,
	// after its Duration, TASK_FINISHED from timers. Status updates are
	// kept in memory. For benchmarks with many agents in one process.
	Emulated bool
	Logger   *slog.Logger
	// HTTPAuth, when set, guards the sandbox endpoint of Handler: callers
	// name themselves with a verified client certificate (serve Handler
	// over TLS, security.ServerTLS) or a bearer token, and only
	// SandboxReaders (default "master", whose UI proxies sandboxes) may
	// read. Nil leaves it open, for loopback test clusters.
	HTTPAuth       *security.Authenticator
	SandboxReaders []string
}

func (c *Config) withDefaults() error {
	if c.Master == "" && c.Conn == nil && c.MasterConn == nil {
		return errors.New("agent: config needs Master (the master's address) or Conn")
	}
	if c.WorkDir == "" && !c.Emulated {
		return errors.New("agent: config needs WorkDir (sandboxes and status updates live there)")
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	// The master refuses what breaks its bounds; say so now rather than
	// in every registration.
	if err := api.ValidateAgentInfo(&api.AgentInfo{Hostname: c.Hostname, Attributes: api.AttributesToProto(c.Attributes)}); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if c.Isolation == "" {
		c.Isolation = "process"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	switch c.Recover {
	case "":
		c.Recover = RecoverReconnect
	case RecoverReconnect, RecoverCleanup:
	default:
		return fmt.Errorf("agent: Recover %q: want %q or %q", c.Recover, RecoverReconnect, RecoverCleanup)
	}
	switch c.TaskUsers {
	case "":
		c.TaskUsers = TaskUsersIsolated
	case TaskUsersIsolated, TaskUsersHost:
	default:
		return fmt.Errorf("agent: TaskUsers %q: want %q or %q", c.TaskUsers, TaskUsersIsolated, TaskUsersHost)
	}
	if c.ContainerUIDs == (UIDRange{}) {
		c.ContainerUIDs = DefaultContainerUIDs
	}
	if err := c.ContainerUIDs.validate(); err != nil {
		return fmt.Errorf("agent: ContainerUIDs: %w", err)
	}
	if c.ContainerUIDState == "" {
		c.ContainerUIDState = DefaultContainerUIDState
	}
	if c.ExecutorReregisterTimeout <= 0 {
		c.ExecutorReregisterTimeout = 5 * time.Second
	}
	if c.StatusRetry <= 0 {
		c.StatusRetry = 10 * time.Second
	}
	if c.StatusRetryMax <= 0 {
		c.StatusRetryMax = 10 * time.Minute
	}
	c.StatusRetryMax = max(c.StatusRetryMax, c.StatusRetry)
	if c.KillGracePeriod <= 0 {
		c.KillGracePeriod = 5 * time.Second
	}
	if err := c.limitDefaults(); err != nil {
		return err
	}
	if c.ReconnectDelay <= 0 {
		c.ReconnectDelay = time.Second
	}
	if c.ReconnectMax <= 0 {
		c.ReconnectMax = 30 * time.Second
	}
	c.ReconnectMax = max(c.ReconnectMax, c.ReconnectDelay)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HTTPAuth != nil && len(c.SandboxReaders) == 0 {
		c.SandboxReaders = []string{"master"}
	}
	if !c.Emulated && c.ExecutorPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("agent: finding own executable to start executors: %w", err)
		}
		c.ExecutorPath = exe
		if c.ExecutorArgs == nil {
			c.ExecutorArgs = []string{"executor"}
		}
	}
	if c.Resources.IsEmpty() {
		r, err := DetectResources(c.WorkDir)
		if err != nil {
			return err
		}
		c.Resources = r
	}
	return nil
}

// DetectResources measures this machine as Mesos does: cpus from the CPU
// count, mem from /proc/meminfo (total less 1 GB kept for the system, or
// half when that is under 2 GB), disk from the file system holding dir
// (when dir is set) and ports 31000-32000.
func DetectResources(dir string) (mezzo.Resources, error) {
	scalars := map[string]float64{mezzo.CPUs: float64(runtime.NumCPU())}
	total, err := memTotalMB("/proc/meminfo")
	if err != nil {
		return mezzo.Resources{}, fmt.Errorf("agent: detecting memory: %w", err)
	}
	if total >= 2048 {
		scalars[mezzo.Mem] = total - 1024
	} else {
		scalars[mezzo.Mem] = total / 2
	}
	if dir != "" {
		if d, err := diskMB(dir); err == nil {
			scalars[mezzo.Disk] = d
		}
	}
	return mezzo.NewResources(scalars, mezzo.Range{Begin: 31000, End: 32000})
}

func memTotalMB(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				return 0, fmt.Errorf("%s: MemTotal %q is not a number", path, fields[1])
			}
			return float64(int64(kb / 1024)), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no MemTotal line", path)
}

// DefaultContainerDisk is Config.ContainerDiskDefault's default.
const DefaultContainerDisk = 1 << 30

// limitDefaults checks and fills in the limits on containers and the
// sandbox garbage collection.
func (c *Config) limitDefaults() error {
	switch {
	case c.ContainerPidsMax < 0:
		return fmt.Errorf("agent: ContainerPidsMax %d: want a positive number of processes", c.ContainerPidsMax)
	case c.ContainerDiskWatchInterval < 0:
		return fmt.Errorf("agent: ContainerDiskWatchInterval %v: want a positive duration", c.ContainerDiskWatchInterval)
	case c.ContainerLogMaxSize < 0:
		return fmt.Errorf("agent: ContainerLogMaxSize %d: want a positive number of bytes", c.ContainerLogMaxSize)
	case c.ContainerLogMaxFiles < 0:
		return fmt.Errorf("agent: ContainerLogMaxFiles %d: want a positive number of files", c.ContainerLogMaxFiles)
	case c.GCDelay < 0:
		return fmt.Errorf("agent: GCDelay %v: want a positive duration", c.GCDelay)
	case math.IsNaN(c.GCDiskHeadroom) || c.GCDiskHeadroom < 0 || c.GCDiskHeadroom >= 1:
		return fmt.Errorf("agent: GCDiskHeadroom %v: want a fraction of the disk between 0 and 1", c.GCDiskHeadroom)
	case c.DiskWatchInterval < 0:
		return fmt.Errorf("agent: DiskWatchInterval %v: want a positive duration", c.DiskWatchInterval)
	}
	if c.ContainerPidsMax == 0 {
		c.ContainerPidsMax = DefaultContainerPidsMax
	}
	if c.ContainerDiskWatchInterval == 0 {
		c.ContainerDiskWatchInterval = 15 * time.Second
	}
	if c.ContainerDiskDefault == 0 {
		c.ContainerDiskDefault = DefaultContainerDisk
	}
	if c.ContainerLogMaxSize == 0 {
		c.ContainerLogMaxSize = executor.DefaultLogMaxSize
	}
	if c.ContainerLogMaxFiles == 0 {
		c.ContainerLogMaxFiles = executor.DefaultLogMaxFiles
	}
	if c.GCDelay == 0 {
		c.GCDelay = DefaultGCDelay
	}
	if c.GCDiskHeadroom == 0 {
		c.GCDiskHeadroom = DefaultGCDiskHeadroom
	}
	if c.DiskWatchInterval == 0 {
		c.DiskWatchInterval = time.Minute
	}
	return nil
}

// Defaults of the limits the agent puts on containers and of the sandbox
// garbage collection.
const (
	// DefaultContainerPidsMax bounds a container's processes and threads:
	// far more than a task needs (a JVM service runs a few hundred
	// threads; RHEL long shipped 1024 as every user's soft nproc), and
	// few enough that thirty fork bombs together do not exhaust Linux's
	// default pid_max of 32768.
	DefaultContainerPidsMax = 1024
	DefaultGCDelay          = 7 * 24 * time.Hour
	DefaultGCDiskHeadroom   = 0.1
)
