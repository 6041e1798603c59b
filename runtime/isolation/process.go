package isolation

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// processIsolator runs plain processes. It limits nothing: Limits are
// accepted and ignored, and a task can use the whole machine. Each process
// gets its own process group so that Kill reaches the children that stay in
// that group (a child that calls setsid or setpgid escapes it; only cgroups
// can follow those).
type processIsolator struct{}

func newProcess() *processIsolator {
	slog.Warn("isolation: using the process isolator, which does NOT isolate tasks: no CPU or memory limits are enforced (use --isolation=cgroups as root)")
	return &processIsolator{}
}

func (*processIsolator) Name() string { return "process (no isolation)" }

// Recover adopts the known processes that still run. The process isolator
// keeps no record of its own, so it finds no other leftovers to remove.
func (*processIsolator) Recover(known []Handle) (map[string]Container, []string, error) {
	adopted := map[string]Container{}
	for _, h := range known {
		if err := checkID(h.ID); err != nil {
			return adopted, nil, err
		}
		if c, ok := adoptProcess(h); ok {
			adopted[h.ID] = c
		}
	}
	return adopted, nil, nil
}

func (*processIsolator) Start(id string, cmd *exec.Cmd, limits Limits) (Container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := limits.validate(); err != nil {
		return nil, err
	}
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("isolation: start %s: %w", id, err)
	}
	c := &processContainer{pgid: cmd.Process.Pid, pidfd: -1}
	c.waiter.start(cmd, nil)
	return c, nil
}

// ownProcessGroup makes the process lead a new process group (unless the
// caller asked for a new session, which implies one), so that signals sent
// to the agent's terminal do not reach it and Kill can reach its group.
func ownProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if !cmd.SysProcAttr.Setsid {
		cmd.SysProcAttr.Setpgid = true
		cmd.SysProcAttr.Pgid = 0
	}
}

type processContainer struct {
	waiter
	pgid int
	// An adopted container (adopt.go) has a pidfd, or on old kernels the
	// handle to check the pid against before signalling it.
	pidfd  int
	handle Handle

	mu     sync.Mutex
	closed bool // pidfd closed by Destroy
}

func (c *processContainer) Wait() (ExitInfo, error) { return c.wait() }

func (c *processContainer) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pidfd >= 0 && !c.closed {
		if err := unix.PidfdSendSignal(c.pidfd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("isolation: kill adopted process %d: %w", c.pgid, err)
		}
	}
	if c.handle.Pid != 0 && !running(c.handle) {
		return nil // gone; the pid may belong to someone else by now
	}
	err := syscall.Kill(-c.pgid, syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("isolation: kill process group %d: %w", c.pgid, err)
	}
	return nil
}

func (*processContainer) Update(Limits) error { return nil }

func (c *processContainer) Destroy() error {
	err := c.Kill()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pidfd >= 0 && !c.closed {
		select {
		case <-c.done: // the watcher no longer polls the fd
			c.closed = true
			_ = unix.Close(c.pidfd)
		default:
		}
	}
	return err
}
