package isolation

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"syscall"
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

func (*processIsolator) Cleanup() ([]string, error) { return nil, nil }

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
	c := &processContainer{pgid: cmd.Process.Pid}
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
}

func (c *processContainer) Wait() (ExitInfo, error) { return c.wait() }

func (c *processContainer) Kill() error {
	err := syscall.Kill(-c.pgid, syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("isolation: kill process group %d: %w", c.pgid, err)
	}
	return nil
}

func (*processContainer) Update(Limits) error { return nil }

func (c *processContainer) Destroy() error { return c.Kill() }
