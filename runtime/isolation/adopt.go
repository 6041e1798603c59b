package isolation

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Adopting the containers of a previous agent run. Their processes are no
// longer this process's children (they were reparented when the old agent
// died, or they belong to another agent object in the same process), so
// wait(2) cannot reap them: an adopted container's end is observed instead
// (a pidfd, the cgroup emptying) and its exit status is unknown.

// procStat reads the start time (clock ticks after boot) and the state
// letter of pid from /proc/PID/stat.
func procStat(pid int) (start uint64, state byte, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, 0, fmt.Errorf("process %d is gone", pid)
		}
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces
	// and parentheses itself; the fields after the last ')' are plain.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name", pid, len(f))
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: start time %q: %w", pid, f[19], err)
	}
	return start, f[0][0], nil
}

// Alive reports whether pid names a live process (one that exists and is
// not a zombie): what a caller holding a Handle's pid, or an executor's,
// checks to see whether it outlived its agent.
func Alive(pid int) bool {
	_, state, err := procStat(pid)
	return err == nil && state != 'Z' && state != 'X'
}

// running reports whether h still names a live process: the pid exists,
// has the recorded start time (it was not reused) and is not a zombie.
func running(h Handle) bool {
	if h.Pid <= 0 || h.StartTime == 0 {
		return false
	}
	start, state, err := procStat(h.Pid)
	return err == nil && start == h.StartTime && state != 'Z' && state != 'X'
}

// adoptPoll is how often an adopted container without a pidfd is checked.
const adoptPoll = 100 * time.Millisecond

// watch starts a waiter for a process that is not our child: gone reports
// (blocking, or polled when it cannot block) whether it has ended. The
// exit status is unknown; oom, when set, is asked as in start.
func (w *waiter) watch(gone func() (bool, error), oom func() (bool, error)) {
	w.init(oom)
	go func() {
		defer close(w.done)
		for {
			ended, err := gone()
			if err != nil {
				w.err = fmt.Errorf("isolation: watching adopted container: %w", err)
				break
			}
			if ended {
				break
			}
			time.Sleep(adoptPoll)
		}
		w.info = ExitInfo{Code: -1, Unknown: true}
		w.finalOOM(oom)
	}()
}

// adoptProcess adopts a process isolator's container: the process and its
// process group, which it leads (ownProcessGroup). A pidfd pins the
// process, so neither Wait nor Kill can act on a reused pid; on kernels
// without pidfd_open (before 5.3) it falls back to polling /proc with the
// start time check.
func adoptProcess(h Handle) (*processContainer, bool) {
	if !running(h) {
		return nil, false
	}
	c := &processContainer{pgid: h.Pid, pidfd: -1}
	fd, err := unix.PidfdOpen(h.Pid, 0)
	switch {
	case err == nil:
		// The pid could have been reused between the check and the open;
		// checking again after the open proves the fd is the right one.
		if !running(h) {
			unix.Close(fd)
			return nil, false
		}
		c.pidfd = fd
		c.waiter.watch(func() (bool, error) { return pollPidfd(fd) }, nil)
	case errors.Is(err, syscall.ESRCH):
		return nil, false
	default:
		c.handle = h
		c.waiter.watch(func() (bool, error) { return !running(h), nil }, nil)
	}
	return c, true
}

// pollPidfd blocks until the process of a pidfd has exited (a pidfd
// becomes readable then, reaped or not).
func pollPidfd(fd int) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return false, err
		}
		return true, nil
	}
}
