package isolation

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// startHeld starts cmd through a tiny /bin/sh shim that blocks until join
// (when not nil) has put it in its cgroup, then execs the real command in
// place (same pid). With fileSize > 0 the shim first sets RLIMIT_FSIZE
// (POSIX `ulimit -f`, soft and hard, in 512-byte blocks): it already runs
// as the task's user, so that needs no privilege, whereas setting the
// limit of another user's process from outside needs CAP_SYS_RESOURCE,
// which some containers withhold even from root.
//
// cgroup v1 has no way to create a process directly inside a cgroup, and a
// pid written to cgroup.procs after an ordinary start races with the task's
// first instructions (and its first forks). So the child first runs
//
//	read -r _ <&N || exit 125; exec "$@" N<&-
//
// where fd N is the read end of a pipe. The parent writes the pid to the
// cgroups, then writes a line to the pipe; only then does the shell exec the
// task. If the parent fails or dies first, the pipe closes, read sees EOF and
// the shim exits 125 without running anything. The shell is the process the
// pid refers to, and exec keeps the pid and the cgroups, so everything the
// task ever runs is accounted. The cost is one exec of /bin/sh per start.
//
// Visible differences: the task sees argv[0] as its path (not a custom
// cmd.Args[0]), and an unrunnable program is reported by the shell's exit
// status 126/127 instead of an error from Start.
func startHeld(cmd *exec.Cmd, join func(pid int) error, fileSize int64) error {
	if cmd.Process != nil {
		return fmt.Errorf("isolation: command already started")
	}
	if cmd.Err != nil {
		return cmd.Err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("isolation: shim pipe: %w", err)
	}
	defer w.Close()
	fd := strconv.Itoa(3 + len(cmd.ExtraFiles))
	script := "read -r _ <&" + fd + " || exit 125; exec \"$@\" " + fd + "<&-"
	if fileSize > 0 {
		script = "ulimit -f " + strconv.FormatInt(max(1, fileSize/512), 10) + " || exit 125; " + script
	}
	args := append([]string{"/bin/sh", "-c", script, "mezzo-shim", cmd.Path}, cmd.Args[1:]...)
	cmd.Path, cmd.Args = "/bin/sh", args
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	err = cmd.Start()
	r.Close()
	cmd.ExtraFiles = cmd.ExtraFiles[:len(cmd.ExtraFiles)-1]
	if err != nil {
		return err
	}
	if join == nil {
		join = func(int) error { return nil }
	}
	if err := join(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	if _, err := w.Write([]byte("go\n")); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("isolation: release shim: %w", err)
	}
	return nil
}
