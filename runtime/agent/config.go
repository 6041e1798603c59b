package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
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
