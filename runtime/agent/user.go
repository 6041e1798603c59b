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

// containerUser is who an executor, and every task it starts, runs as.
type containerUser struct {
	name string
	// uid and gid are the named user's: what the task is, inside its user
	// namespace when isolated.
	uid, gid uint32
	groups   []uint32 // the user's supplementary groups (host mode only)
	// hostUID and hostGID are the processes' ids on the host, and own the
	// sandbox: allocated for the container when isolated, else uid, gid.
	hostUID, hostGID uint32
	isolated         bool
}

// containerUserFor resolves the user name an executor of container runs
// as, allocating a host uid for it when tasks are isolated (release it
// with releaseContainerUser). Nil means the executor runs as the agent: no
// user was named, or the agent is not root and cannot switch users. The
// user must exist on the host: the agent creates none.
func (a *Agent) containerUserFor(name, container string) (*containerUser, error) {
	if name == "" {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		if cur, err := user.Current(); err == nil && cur.Username != name {
			a.log.Warn("agent is not root: task runs as the agent's user, not the one asked for", "user", name, "agent_user", cur.Username)
		}
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("run as user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: gid %q: %w", name, u.Gid, err)
	}
	cu := &containerUser{name: name, uid: uint32(uid), gid: uint32(gid), hostUID: uint32(uid), hostGID: uint32(gid)}
	if a.uids == nil {
		if ids, err := u.GroupIds(); err == nil {
			for _, g := range ids {
				if n, err := strconv.ParseUint(g, 10, 32); err == nil {
					cu.groups = append(cu.groups, uint32(n))
				}
			}
		}
		return cu, nil
	}
	host, err := a.uids.allocate(container)
	if err != nil {
		return nil, err
	}
	cu.hostUID, cu.hostGID, cu.isolated = host, host, true
	return cu, nil
}

// apply makes cmd run as u. Isolated, the process starts in a user
// namespace of its own that maps u's uid and gid, and nothing else, to
// the container's host ids: the task is u inside (id -u prints u's uid,
// files it creates belong to it), and on the host an unprivileged uid
// that no other container has. It keeps no supplementary group: not the
// user's (they are not mapped), and not the agent's (root's), which a
// process entering a user namespace would otherwise keep.
func (u *containerUser) apply(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if !u.isolated {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}
		return
	}
	cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
	cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: int(u.uid), HostID: int(u.hostUID), Size: 1}}
	cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: int(u.gid), HostID: int(u.hostGID), Size: 1}}
	// "allow", so that the child may call setgroups(0) and drop root's
	// groups; the task, unprivileged once it execs, cannot call it again.
	cmd.SysProcAttr.GidMappingsEnableSetgroups = true
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid}
}

// releaseContainerUser hands an ended executor's sandbox back to root and
// then, isolated, gives its host uid back to the allocator: reclaimed
// first, so the uid's next holder finds nothing of this container. A
// sandbox that cannot be reclaimed keeps its uid out of use for the rest
// of this run.
//
// It also runs for executors that ran as root (hostUID 0: the directory is
// made root's 0700, which it already is) and for those a previous version
// started, whose checkpoint has no uid: their sandbox's directory was the
// task user's.
func (a *Agent) releaseContainerUser(ex *executorProc) {
	if err := reclaimSandbox(ex.sandbox, ex.hostUID); err != nil {
		a.log.Error("handing an ended sandbox back to root; its host uid stays out of use", "sandbox", ex.sandbox,
			"host_uid", ex.hostUID, "err", err)
		return
	}
	if ex.isolated && a.uids != nil {
		a.uids.release(ex.hostUID)
	}
}

// setupTaskUsers decides who tasks run as on this agent (Config.TaskUsers)
// and says so in the log.
func (a *Agent) setupTaskUsers() error {
	if os.Geteuid() != 0 {
		a.log.Warn("agent is not root: every task runs as the agent's own user, whatever user it names; tenants are not separated from each other on this agent",
			"uid", os.Geteuid())
		return nil
	}
	a.warnUnreachable()
	if a.cfg.TaskUsers == TaskUsersHost {
		a.log.Warn("tasks run as their real host users (task users: host): tasks of different tenants that run as the same user can read, signal and trace each other, and read each other's sandboxes")
		return nil
	}
	if err := CheckContainerUIDs(a.cfg.ContainerUIDs); err != nil {
		return fmt.Errorf("agent: container uids: %w", err)
	}
	a.uids = newUIDAllocator(a.cfg.ContainerUIDs, a.cfg.ContainerUIDState)
	if err := a.uids.check(); err != nil {
		return fmt.Errorf("agent: container uids: %w", err)
	}
	if err := probeUserNamespace(a.cfg.ContainerUIDs.First); err != nil {
		return fmt.Errorf("agent: tasks cannot be isolated on this host (creating a user namespace: %v); run them as their host users instead (task users: host)", err)
	}
	if o := a.uids.overlappingRanges(); len(o) > 0 {
		a.log.Warn("another agent of this machine uses container uids that overlap this agent's: only a running process keeps a uid from being handed to both; give each agent the same range or ranges apart",
			"range", a.cfg.ContainerUIDs.String(), "overlapping", fmt.Sprint(o), "state", a.cfg.ContainerUIDState)
	}
	a.log.Info("tasks run isolated: each container in a user namespace, its task's user mapped to a host uid of its own",
		"uid_range", a.cfg.ContainerUIDs.String(), "state", a.cfg.ContainerUIDState)
	return nil
}

// warnUnreachable says when tasks of other users will not reach their
// sandbox or the executor binary: a directory on the way that others may
// not search, or a binary they may not execute.
func (a *Agent) warnUnreachable() {
	check := func(what, path string, self bool) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return
		}
		if self {
			if st, err := os.Stat(abs); err == nil && st.Mode()&0o001 == 0 {
				a.log.Warn("tasks of other users cannot run the "+what+": it is not executable by others", "path", abs, "mode", st.Mode().String())
			}
		}
		for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode()&0o001 == 0 {
				a.log.Warn("tasks of other users cannot reach the "+what+": a directory on the way is closed to others", "path", abs, "dir", d, "mode", st.Mode().String())
				return
			}
			if d == filepath.Dir(d) {
				return
			}
		}
	}
	check("work dir", a.cfg.WorkDir, false)
	if a.cfg.ExecutorPath != "" {
		check("executor binary", a.cfg.ExecutorPath, true)
	}
}

// probeUserNamespace starts /bin/sh (which the cgroups isolator and shell
// tasks need anyway) in a user namespace that maps its root to host uid
// host, as apply does for a container: a host that forbids user namespaces
// (a seccomp profile, user.max_user_namespaces 0) is refused at start-up
// rather than failing every launch.
func probeUserNamespace(host uint32) error {
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	u := &containerUser{hostUID: host, hostGID: host, isolated: true}
	u.apply(cmd)
	return cmd.Run()
}
