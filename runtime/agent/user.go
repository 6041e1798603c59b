package agent

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/mezzo-cluster/mezzo"
)

// executorUser is the OS user an executor runs as: its own command's,
// its first task's command's (command executors), or the framework's.
// The master has checked it against the ACL's run_tasks and written it
// into the command.
func executorUser(info mezzo.ExecutorInfo, first mezzo.TaskInfo, fw mezzo.FrameworkInfo) string {
	switch {
	case info.Command != nil && info.Command.User != "":
		return info.Command.User
	case first.Command != nil && first.Command.User != "":
		return first.Command.User
	}
	return fw.User
}

// runAs makes cmd run as name when the agent runs as root, and hands the
// sandbox (and its stdout/stderr files) to that user. The user must
// exist: the agent creates none. An agent that is not root cannot switch
// users and runs everything as itself.
func (a *Agent) runAs(cmd *exec.Cmd, sandbox, name string) error {
	if name == "" {
		return nil
	}
	if os.Geteuid() != 0 {
		if cur, err := user.Current(); err == nil && cur.Username != name {
			a.log.Warn("agent is not root: task runs as the agent's user, not the one asked for", "user", name, "agent_user", cur.Username)
		}
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("run as user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return fmt.Errorf("user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return fmt.Errorf("user %q: gid %q: %w", name, u.Gid, err)
	}
	var groups []uint32
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				groups = append(groups, uint32(n))
			}
		}
	}
	for _, p := range []string{sandbox, filepath.Join(sandbox, "stdout"), filepath.Join(sandbox, "stderr")} {
		if err := os.Chown(p, int(uid), int(gid)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("sandbox for user %q: %w", name, err)
		}
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}
	return nil
}
