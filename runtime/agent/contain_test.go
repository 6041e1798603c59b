package agent

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mezzo-cluster/mezzo"
)

// Tests of what keeps one container's tasks from another's: host uids of
// their own (containeruids.go, user.go), the executor token out of reach
// (executors.go, executor.ConfigFromEnv) and the work dir's modes
// (workdir.go).

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run tasks as other users")
	}
}

func nobodyUser(t *testing.T) *user.User {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody on this machine")
	}
	return u
}

// openDir is a temporary directory that other users may traverse, as the
// way to a real work dir must be (t.TempDir's parent is closed to them).
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mezzo-agent-contain-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// reachableExecutor is the test binary where other users may run it (go
// test builds it in a directory closed to them): a hard link in dir, or a
// copy.
func reachableExecutor(t *testing.T, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "agent.test")
	if err := os.Link(exe, dst); err != nil {
		in, err := os.Open(exe)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// stoppableTask runs as user (none: the agent's) until stop exists,
// after noting in its sandbox who it is and its pid, and trying to read
// its executor's (its parent's) environment and memory.
func stoppableTask(id, userName, stop string) mezzo.TaskInfo {
	sh := `id -u > id; cat /proc/self/uid_map > uidmap; env > env; ` +
		`cat /proc/$PPID/environ > stolen-environ 2>&1; head -c 4096 /proc/$PPID/mem > stolen-mem 2>&1; ` +
		`echo "output of $MEZZO_TASK_ID"; echo $$ > pid; ` +
		fmt.Sprintf(`while [ ! -e %s ]; do sleep 0.05; done`, stop)
	return mezzo.TaskInfo{ID: mezzo.TaskID(id), Resources: mezzo.MustParseResources("cpus:0.1;mem:64"),
		Command: &mezzo.CommandInfo{Shell: true, Value: sh, User: userName}}
}

// sandboxOf is the sandbox of task id's command executor.
func sandboxOf(t *testing.T, workDir, fw, id string) string {
	t.Helper()
	var dirs []string
	waitFor(t, func() bool {
		dirs, _ = filepath.Glob(filepath.Join(workDir, sandboxesDir, "f-"+fw, "e-command-"+id+"-*"))
		return len(dirs) == 1
	})
	return dirs[0]
}

// fileInt waits for a file holding a number.
func fileInt(t *testing.T, path string) int {
	t.Helper()
	var n int
	waitFor(t, func() bool {
		b, _ := os.ReadFile(path)
		var err error
		n, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return n
}

// procUIDs is the real uid and gid of pid on the host.
func procUIDs(t *testing.T, pid int) (uint32, uint32) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var uid, gid uint64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == "Uid:" {
			uid, _ = strconv.ParseUint(f[1], 10, 32)
		}
		if len(f) > 1 && f[0] == "Gid:" {
			gid, _ = strconv.ParseUint(f[1], 10, 32)
		}
	}
	return uint32(uid), uint32(gid)
}

// asHostUser runs argv as uid:gid on the host (no user namespace, no
// supplementary group), as another process of that user would.
func asHostUser(uid, gid uint32, argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// owner is the owner and permission bits of path (not followed).
func owner(t *testing.T, path string) (uint32, fs.FileMode) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Uid, st.Mode().Perm()
}

func wantOwner(t *testing.T, path string, uid uint32, mode fs.FileMode) {
	t.Helper()
	if u, m := owner(t, path); u != uid || m != mode {
		t.Errorf("%s: owner %d mode %v, want owner %d mode %v", path, u, m, uid, mode)
	}
}

// checkpointOf is the checkpoint of task id's command executor.
func checkpointOf(t *testing.T, workDir, id string) loadedCheckpoint {
	t.Helper()
	cp, ok := checkpointsByExecutor(t, workDir)[mezzo.ExecutorID("command-"+id)]
	if !ok {
		t.Fatalf("no checkpoint for the executor of %s", id)
	}
	return cp
}

// wantPrivate checks that nothing in the work dir outside the sandboxes is
// open to other users: at its top level (what a task could reach through
// the 0711 work dir) every file is 0600 and every directory 0700.
func wantPrivate(t *testing.T, workDir string) {
	t.Helper()
	ents, err := os.ReadDir(workDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == sandboxesDir {
			continue
		}
		want := fs.FileMode(0o600)
		if e.IsDir() {
			want = 0o700
		}
		wantOwner(t, filepath.Join(workDir, e.Name()), uint32(os.Geteuid()), want)
	}
}

// Two tasks of the same user (nobody, as two tenants the ACL lets run as
// nobody) run under host uids of their own from the container range, each
// nobody inside its user namespace; neither can signal the other or read
// its sandbox; every file of the work dir has the mode workdir.go says;
// and once they end their sandboxes are root's and their uids free.
func TestIsolatedContainersHaveHostUIDsOfTheirOwn(t *testing.T) {
	needRoot(t)
	nobody := nobodyUser(t)
	base := openDir(t)
	work, stop := filepath.Join(base, "work"), filepath.Join(base, "stop")
	m := startFakeMaster(t, true)
	m.epoch = 3 // so the agent records it (master-epoch)
	a, _ := startAgent(t, m, Config{WorkDir: work, ExecutorPath: reachableExecutor(t, base)})
	<-m.subscribes
	t.Cleanup(func() { _ = os.WriteFile(stop, nil, 0o644) })
	launch := launchEvent1("fw", stoppableTask("a", "nobody", stop), stoppableTask("b", "nobody", stop))
	launch.GetLaunchTasks().MasterEpoch = m.epoch
	m.events <- launch
	for _, id := range []mezzo.TaskID{"a", "b"} {
		if s := m.nextUpdate(t, id); s.State != mezzo.TaskRunning {
			t.Fatalf("%s: %v %q, want RUNNING", id, s.State, s.Message)
		}
	}
	type container struct {
		sandbox      string
		pid, hostUID int
	}
	got := map[string]container{}
	for _, id := range []string{"a", "b"} {
		sb := sandboxOf(t, work, "fw", id)
		pid := fileInt(t, filepath.Join(sb, "pid"))
		if b, _ := os.ReadFile(filepath.Join(sb, "id")); strings.TrimSpace(string(b)) != nobody.Uid {
			t.Errorf("%s: id -u inside the container printed %q, want nobody's %s", id, b, nobody.Uid)
		}
		b, _ := os.ReadFile(filepath.Join(sb, "uidmap"))
		f := strings.Fields(string(b))
		if len(f) != 3 || f[0] != nobody.Uid || f[2] != "1" {
			t.Fatalf("%s: uid_map %q, want nobody's uid mapped to one host uid", id, b)
		}
		host, _ := strconv.Atoi(f[1])
		if !DefaultContainerUIDs.contains(uint64(host)) {
			t.Errorf("%s: host uid %d outside the container range %s", id, host, DefaultContainerUIDs)
		}
		if uid, gid := procUIDs(t, pid); uid != uint32(host) || gid != uint32(host) {
			t.Errorf("%s: the task runs as %d:%d on the host, want %d:%d", id, uid, gid, host, host)
		}
		cp := checkpointOf(t, work, id)
		if uid, _ := procUIDs(t, cp.cp.Container.Pid); uid != uint32(host) {
			t.Errorf("%s: its executor runs as host uid %d, want %d", id, uid, host)
		}
		if cp.cp.HostUID != uint32(host) || cp.cp.HostGID != uint32(host) || !cp.cp.Isolated {
			t.Errorf("%s: checkpoint records host %d:%d isolated %v, want %d:%d isolated", id, cp.cp.HostUID, cp.cp.HostGID, cp.cp.Isolated, host, host)
		}
		wantOwner(t, sb, uint32(host), 0o700)
		for _, name := range []string{"stdout", "stderr", sandboxCAFile, "task-" + id + ".stdout", "task-" + id + ".stderr"} {
			wantOwner(t, filepath.Join(sb, name), uint32(host), 0o600)
		}
		got[id] = container{sandbox: sb, pid: pid, hostUID: host}
	}
	if got["a"].hostUID == got["b"].hostUID {
		t.Fatalf("both containers run as host uid %d", got["a"].hostUID)
	}
	for _, p := range []string{work, filepath.Join(work, sandboxesDir), filepath.Join(work, sandboxesDir, "f-fw")} {
		wantOwner(t, p, 0, 0o711)
	}
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(work, "master-epoch")); return err == nil })
	wantPrivate(t, work)
	for _, p := range []string{"executors", "status"} {
		wantOwner(t, filepath.Join(work, p), 0, 0o700)
	}
	files, _ := filepath.Glob(filepath.Join(work, "executors", "*"))
	for _, f := range files {
		wantOwner(t, f, 0, 0o600)
	}

	// a, on the host, against b.
	ua := uint32(got["a"].hostUID)
	for _, argv := range [][]string{
		{"kill", "-0", strconv.Itoa(got["b"].pid)},
		{"cat", filepath.Join(got["b"].sandbox, "task-b.stdout")},
		{"cat", fmt.Sprintf("/proc/%d/cwd/task-b.stdout", got["b"].pid)},
		{"ls", filepath.Join(work, sandboxesDir, "f-fw")},
	} {
		if out, err := asHostUser(ua, ua, argv...); err == nil {
			t.Errorf("%v as a's host uid succeeded: %q", argv, out)
		}
	}

	touch(t, stop)
	for _, id := range []mezzo.TaskID{"a", "b"} {
		if s := m.nextUpdate(t, id); s.State != mezzo.TaskFinished {
			t.Errorf("%s: %v %q, want FINISHED", id, s.State, s.Message)
		}
	}
	waitFor(t, func() bool { return len(checkpointsByExecutor(t, work)) == 0 })
	for id, c := range got {
		wantOwner(t, c.sandbox, 0, 0o700)
		_ = filepath.WalkDir(c.sandbox, func(p string, d fs.DirEntry, err error) error {
			if err == nil {
				if u, _ := owner(t, p); u != 0 {
					t.Errorf("%s: %s still owned by %d after its executor ended", id, p, u)
				}
			}
			return nil
		})
		a.uids.mu.Lock()
		_, held := a.uids.inUse[uint32(c.hostUID)]
		a.uids.mu.Unlock()
		if held {
			t.Errorf("%s: host uid %d still held after its sandbox was reclaimed", id, c.hostUID)
		}
	}
}

// The executor's token is in no process's environment, and no process,
// not even the executor's own task or another process of the same host
// user, can read it from the executor's /proc files: it came on a pipe and
// the executor is not dumpable.
func TestExecutorTokenIsOutOfReach(t *testing.T) {
	modes := []struct{ name, taskUsers, user string }{{"agent's user", "", ""}}
	if os.Geteuid() == 0 {
		nobodyUser(t)
		modes = append(modes, struct{ name, taskUsers, user string }{"isolated", TaskUsersIsolated, "nobody"},
			struct{ name, taskUsers, user string }{"host users", TaskUsersHost, "nobody"})
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			base := openDir(t)
			work, stop := filepath.Join(base, "work"), filepath.Join(base, "stop")
			m := startFakeMaster(t, true)
			startAgent(t, m, Config{WorkDir: work, ExecutorPath: reachableExecutor(t, base), TaskUsers: mode.taskUsers})
			<-m.subscribes
			t.Cleanup(func() { _ = os.WriteFile(stop, nil, 0o644) })
			m.events <- launchEvent1("fw", stoppableTask("t", mode.user, stop))
			if s := m.nextUpdate(t, "t"); s.State != mezzo.TaskRunning {
				t.Fatalf("%v %q, want RUNNING", s.State, s.Message)
			}
			sb := sandboxOf(t, work, "fw", "t")
			taskPid := fileInt(t, filepath.Join(sb, "pid"))
			cp := checkpointOf(t, work, "t")
			token, execPid := []byte(cp.cp.Token), cp.cp.Container.Pid
			if len(token) < 16 {
				t.Fatalf("checkpointed token %q", token)
			}
			// What the task itself got from its executor's /proc files.
			for _, f := range []string{"env", "stolen-environ", "stolen-mem"} {
				b, err := os.ReadFile(filepath.Join(sb, f))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, token) || bytes.Contains(b, []byte("MEZZO_EXECUTOR_TOKEN=")) {
					t.Errorf("the task's %s holds the token or its variable: %q", f, b)
				}
				if f == "env" && bytes.Contains(b, []byte("MEZZO_EXECUTOR_TOKEN_FD=")) {
					t.Errorf("the task's environment names the token's descriptor: %q", b)
				}
			}
			// A task that is not root may not even open them.
			if b, _ := os.ReadFile(filepath.Join(sb, "id")); strings.TrimSpace(string(b)) != "0" {
				if b, _ := os.ReadFile(filepath.Join(sb, "stolen-environ")); !bytes.Contains(b, []byte("Permission denied")) {
					t.Errorf("the task read its executor's environment: %q", b)
				}
			}
			for _, pid := range []int{execPid, taskPid} {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
				switch {
				case err == nil && (bytes.Contains(b, token) || bytes.Contains(b, []byte("MEZZO_EXECUTOR_TOKEN="))):
					t.Errorf("pid %d's environment holds the token", pid)
				case err == nil && pid == taskPid && bytes.Contains(b, []byte("MEZZO_EXECUTOR_TOKEN_FD=")):
					t.Errorf("the task's environment names the token's descriptor")
				case err != nil && (os.Geteuid() == 0 || pid == taskPid):
					t.Errorf("reading pid %d's environment: %v", pid, err)
				case err == nil && os.Geteuid() != 0 && pid == execPid:
					t.Errorf("the agent's own user read the executor's environment: it is dumpable")
				}
				if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); bytes.Contains(b, token) {
					t.Errorf("pid %d's command line holds the token", pid)
				}
			}
			uid, gid := procUIDs(t, execPid)
			if uid == 0 {
				return // root's process: root's /proc files whatever its dumpability
			}
			if u, _ := owner(t, fmt.Sprintf("/proc/%d/environ", execPid)); u != 0 {
				t.Errorf("the executor's /proc files belong to uid %d, want root's: it is dumpable", u)
			}
			if os.Geteuid() != 0 {
				return
			}
			for _, argv := range [][]string{
				{"cat", fmt.Sprintf("/proc/%d/environ", execPid)},
				{"head", "-c", "1", fmt.Sprintf("/proc/%d/mem", execPid)},
				{"ls", fmt.Sprintf("/proc/%d/fd/", execPid)},
				{"ls", fmt.Sprintf("/proc/%d/cwd/", execPid)},
			} {
				if out, err := asHostUser(uid, gid, argv...); err == nil {
					t.Errorf("%v as the executor's own host uid %d succeeded: %q", argv, uid, out)
				}
			}
			touch(t, stop)
			if s := m.nextUpdate(t, "t"); s.State != mezzo.TaskFinished {
				t.Errorf("%v %q, want FINISHED", s.State, s.Message)
			}
		})
	}
}

// An executor adopted after an agent restart keeps its host uid (the
// checkpoint has it, and the executor its token in memory), the restarted
// agent hands no new container that uid, and the sandbox goes back to root
// when the adopted executor ends.
func TestAdoptedContainerKeepsItsHostUID(t *testing.T) {
	needRoot(t)
	nobodyUser(t)
	base := openDir(t)
	work, stop := filepath.Join(base, "work"), filepath.Join(base, "stop")
	exe := reachableExecutor(t, base)
	t.Cleanup(func() { _ = os.WriteFile(stop, nil, 0o644) })
	m := startFakeMaster(t, true)
	cfg := Config{WorkDir: work, ExecutorPath: exe, DetachOnStop: true}
	first, stopFirst := startAgent(t, m, cfg)
	<-m.subscribes
	m.events <- launchEvent1("fw", stoppableTask("old", "nobody", stop))
	if s := m.nextUpdate(t, "old"); s.State != mezzo.TaskRunning {
		t.Fatalf("%v %q, want RUNNING", s.State, s.Message)
	}
	waitFor(t, func() bool { return len(first.store.pending("fw", "old")) == 0 })
	sb := sandboxOf(t, work, "fw", "old")
	pid := fileInt(t, filepath.Join(sb, "pid"))
	host, _ := procUIDs(t, pid)
	stopFirst()

	cfg.DetachOnStop = false
	second, _ := startAgent(t, m, cfg)
	req := <-m.subscribes
	if len(req.Tasks) != 1 || req.Tasks[0].State.String() != "TASK_RUNNING" {
		t.Fatalf("re-registered with %v, want the adopted task running", req.Tasks)
	}
	if uid, _ := procUIDs(t, pid); uid != host {
		t.Fatalf("adopted task runs as %d, want %d", uid, host)
	}
	second.uids.mu.Lock()
	_, held := second.uids.inUse[host]
	second.uids.mu.Unlock()
	if !held {
		t.Errorf("the restarted agent does not hold the adopted container's uid %d", host)
	}
	m.events <- launchEvent1("fw", stoppableTask("new", "nobody", stop))
	if s := m.nextUpdate(t, "new"); s.State != mezzo.TaskRunning {
		t.Fatalf("%v %q, want RUNNING", s.State, s.Message)
	}
	newPid := fileInt(t, filepath.Join(sandboxOf(t, work, "fw", "new"), "pid"))
	if uid, _ := procUIDs(t, newPid); uid == host || !DefaultContainerUIDs.contains(uint64(uid)) {
		t.Errorf("new container runs as %d beside the adopted one's %d", uid, host)
	}
	touch(t, stop)
	for _, id := range []mezzo.TaskID{"old", "new"} {
		if s := m.nextUpdate(t, id); !s.State.Terminal() {
			t.Errorf("%s: %v, want its end", id, s.State)
		}
	}
	waitFor(t, func() bool { return len(checkpointsByExecutor(t, work)) == 0 })
	wantOwner(t, sb, 0, 0o700)
	wantOwner(t, filepath.Join(sb, "stdout"), 0, 0o600)
}

// A work dir an earlier version left open (directories 0755, files 0644,
// sandboxes owned by the task's user) is closed at start-up.
func TestWorkDirIsTightenedAtStart(t *testing.T) {
	base := openDir(t)
	work := filepath.Join(base, "work")
	m := startFakeMaster(t, true)
	m.epoch = 2
	userName := ""
	if os.Geteuid() == 0 {
		userName = "nobody"
		nobodyUser(t)
	}
	_, stop := startAgent(t, m, Config{WorkDir: work, ExecutorPath: reachableExecutor(t, base)})
	<-m.subscribes
	launch := launchEvent1("fw", mezzo.TaskInfo{ID: "t", Resources: mezzo.MustParseResources("cpus:0.1;mem:32"),
		Command: &mezzo.CommandInfo{Shell: true, Value: "echo done", User: userName}})
	launch.GetLaunchTasks().MasterEpoch = m.epoch
	m.events <- launch
	for s := m.nextUpdate(t, "t"); !s.State.Terminal(); s = m.nextUpdate(t, "t") {
	}
	sb := sandboxOf(t, work, "fw", "t")
	waitFor(t, func() bool { return len(checkpointsByExecutor(t, work)) == 0 })
	stop()

	// As the version before would have left it.
	_ = filepath.WalkDir(work, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 && strings.HasPrefix(p, sb) {
			_ = os.Lchown(p, 65534, 65534)
		}
		return nil
	})
	startAgent(t, m, Config{WorkDir: work, ExecutorPath: reachableExecutor(t, openDir(t))})
	<-m.subscribes
	trav := fs.FileMode(0o700)
	if os.Geteuid() == 0 {
		trav = 0o711
	}
	me := uint32(os.Geteuid())
	for _, p := range []string{work, filepath.Join(work, sandboxesDir), filepath.Dir(sb)} {
		wantOwner(t, p, me, trav)
	}
	wantOwner(t, sb, me, 0o700)
	wantPrivate(t, work)
	_ = filepath.WalkDir(work, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == work || strings.HasPrefix(p, filepath.Join(work, sandboxesDir)) {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v after start-up, want no group or other bits", p, info.Mode().Perm())
		}
		return nil
	})

	// A work dir every user may write in is refused, with the reason.
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o1777); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Master: m.addr, WorkDir: open, Resources: mezzo.MustParseResources("cpus:1;mem:64"), Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "writable by every user") {
		t.Errorf("a 1777 work dir: %v, want refused", err)
	}
	if _, err := New(Config{Master: m.addr, WorkDir: t.TempDir(), TaskUsers: "shared", Logger: quiet,
		Resources: mezzo.MustParseResources("cpus:1;mem:64")}); err == nil || !strings.Contains(err.Error(), "TaskUsers") {
		t.Errorf("TaskUsers shared: %v, want refused naming the setting", err)
	}
}
