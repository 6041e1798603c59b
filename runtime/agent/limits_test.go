package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/isolation"
)

// cgroupParent is a parent cgroup of the test's own (an agent removes
// every container under its parent that it did not start), removed with
// what is left in it when the test ends. It skips the test where cgroups
// cannot work.
func cgroupParent(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cgroups need root")
	}
	parent := fmt.Sprintf("mezzo-agent-limits-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	if _, err := isolation.New("cgroups", isolation.Options{Parent: parent}); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() {
		_, _ = isolation.Cleanup(parent)
		for _, pat := range []string{"*", "*/*", "*/*/*", "*/*/*/*"} {
			dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", pat, parent))
			for _, d := range dirs {
				_ = os.Remove(d)
			}
		}
	})
	return parent
}

func shellTask(id, resources, sh string) mezzo.TaskInfo {
	return mezzo.TaskInfo{ID: mezzo.TaskID(id), Resources: mezzo.MustParseResources(resources),
		Command: &mezzo.CommandInfo{Value: sh, Shell: true}}
}

// end reads task id's updates until a terminal one.
func (m *fakeMaster) end(t *testing.T, id mezzo.TaskID) mezzo.TaskStatus {
	t.Helper()
	for {
		if s := m.nextUpdate(t, id); s.State.Terminal() {
			return s
		}
	}
}

// hogChild is a shell whose child (tail, keeping a line of 300 MB that
// never ends) is OOM-killed while the shell carries on.
const hogChild = "head -c 300000000 /dev/zero | tail > /dev/null; echo child gone: $?"

// A child OOM-killed inside a task that lives on is a memory limitation:
// the container is destroyed at once (not 30 s later, when the shell
// would have finished), and a task whose shell exits 0 right after the
// kill fails as well, instead of reporting TASK_FINISHED.
func TestOOMKilledChildFailsTheTask(t *testing.T) {
	parent := cgroupParent(t)
	m := startFakeMaster(t, true)
	startAgent(t, m, Config{WorkDir: t.TempDir(), Isolation: "cgroups", CgroupParent: parent})
	<-m.subscribes
	start := time.Now()
	m.events <- launchEvent1("fw",
		shellTask("lingers", "cpus:0.5;mem:64", hogChild+"; sleep 30"),
		shellTask("exits0", "cpus:0.5;mem:64", hogChild+"; exit 0"))
	for _, id := range []mezzo.TaskID{"lingers", "exits0"} {
		s := m.end(t, id)
		if s.State != mezzo.TaskFailed || s.Reason != mezzo.ReasonMemoryLimit || !strings.Contains(s.Message, "OOM killer killed a process") {
			t.Errorf("%s ended %v %s %q; want TASK_FAILED for the memory limit, saying a process was OOM-killed", id, s.State, s.Reason, s.Message)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the lingering task was failed after %v: the kill was not seen while it ran", d)
	}
}

// A task past its disk is failed for it, with usage and quota named; one
// within its disk, or without a disk resource, is not; and with the quota
// not enforced the agent only measures.
func TestDiskQuotaIsEnforced(t *testing.T) {
	write := func(files int) string { // files of 600,000 bytes each
		return fmt.Sprintf("i=0; while [ $i -lt %d ]; do i=$((i+1)); head -c 600000 /dev/zero > f$i; done; sleep 30", files)
	}
	for _, enforce := range []bool{true, false} {
		t.Run(fmt.Sprintf("enforce=%v", enforce), func(t *testing.T) {
			m := startFakeMaster(t, true)
			dir := t.TempDir()
			startAgent(t, m, Config{WorkDir: dir, ContainerDiskWatchInterval: 50 * time.Millisecond, IgnoreDiskQuota: !enforce})
			<-m.subscribes
			m.events <- launchEvent1("fw",
				shellTask("over", "cpus:0.1;mem:32;disk:2", write(6)),
				shellTask("within", "cpus:0.1;mem:32;disk:8", write(6)),
				shellTask("nodisk", "cpus:0.1;mem:32", write(6)))
			if !enforce {
				// Give the watcher time to measure, then stop the tasks.
				time.Sleep(time.Second)
				for _, id := range []mezzo.TaskID{"over", "within", "nodisk"} {
					m.events <- killEvent("fw", id)
					if s := m.end(t, id); s.State != mezzo.TaskKilled {
						t.Errorf("%s with the quota not enforced ended %v %s %q; want killed on request", id, s.State, s.Reason, s.Message)
					}
				}
				return
			}
			s := m.end(t, "over")
			if s.State != mezzo.TaskFailed || s.Reason != mezzo.ReasonDiskLimit || !strings.Contains(s.Message, "exceeds quota (2 MB)") {
				t.Errorf("over ended %v %s %q; want TASK_FAILED for the disk, naming usage and the 2 MB quota", s.State, s.Reason, s.Message)
			}
			for _, id := range []mezzo.TaskID{"within", "nodisk"} {
				if s := m.nextUpdate(t, id); s.State != mezzo.TaskRunning {
					t.Fatalf("%s: %v %q", id, s.State, s.Message)
				}
				m.events <- killEvent("fw", id)
				if s := m.end(t, id); s.State != mezzo.TaskKilled {
					t.Errorf("%s ended %v %s %q; want killed on request, never for the disk", id, s.State, s.Reason, s.Message)
				}
			}
		})
	}
}

// With the quota not enforced, a task that ends on its own while over its
// disk ends as it says (TASK_FINISHED), not for the disk: the check at the
// executor's end is the watcher's, and is skipped with it.
func TestDiskQuotaNotEnforcedAtTheEnd(t *testing.T) {
	m := startFakeMaster(t, true)
	startAgent(t, m, Config{WorkDir: t.TempDir(), ContainerDiskWatchInterval: time.Hour, IgnoreDiskQuota: true})
	<-m.subscribes
	// Three files of 600,000 bytes: 1.7 MB in a task of 1 MB.
	m.events <- launchEvent1("fw", shellTask("over", "cpus:0.1;mem:32;disk:1",
		"for i in 1 2 3; do head -c 600000 /dev/zero > f$i; done; sync"))
	if s := m.end(t, "over"); s.State != mezzo.TaskFinished {
		t.Errorf("over its disk with the quota not enforced, the task ended %v %s %q; want TASK_FINISHED", s.State, s.Reason, s.Message)
	}
}

// containerFile reads a file of the one container under parent: the v1
// controller's file v1 under /sys/fs/cgroup/SUB, or the v2 file v2.
func containerFile(t *testing.T, parent, sub, v1, v2 string) string {
	t.Helper()
	var files []string
	for _, up := range []string{"", "*", "*/*", "*/*/*"} {
		m1, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", sub, up, parent, "*", v1))
		m2, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", up, parent, "*", v2))
		files = append(append(files, m1...), m2...)
	}
	if len(files) != 1 {
		t.Fatalf("%s of the container under %s: %v, want one", v1, parent, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// A shared executor's container is sized, as in Mesos, to the executor and
// its live tasks: a task that ends gives its cpu back at once. Memory and
// disk are never lowered while the container runs (a task that joins later
// must not bring the memory limit under what the container holds, nor
// the disk quota under the files an ended task left): only raised.
func TestSharedContainerLimitsFollowItsLiveTasks(t *testing.T) {
	parent := cgroupParent(t)
	m := startFakeMaster(t, true)
	a, _ := startAgent(t, m, Config{WorkDir: t.TempDir(), Isolation: "cgroups", CgroupParent: parent, ContainerDiskWatchInterval: time.Hour})
	<-m.subscribes
	ex := &mezzo.ExecutorInfo{ID: "shared", Kind: "sleeper", Resources: mezzo.MustParseResources("cpus:0.1;mem:32;disk:1")}
	task := func(id, res string) mezzo.TaskInfo {
		return mezzo.TaskInfo{ID: mezzo.TaskID(id), Executor: ex, Resources: mezzo.MustParseResources(res)}
	}
	type want struct {
		quota string // cpu.cfs_quota_us, or cpu.max's first field
		mem   string // bytes
		disk  int64  // the agent's quota, bytes
	}
	check := func(step string, w want) {
		t.Helper()
		var cpu string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if cpu = strings.Fields(containerFile(t, parent, "cpu", "cpu.cfs_quota_us", "cpu.max"))[0]; cpu == w.quota {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: cpu quota %s, want %s", step, cpu, w.quota)
				break
			}
		}
		if mem := containerFile(t, parent, "memory", "memory.limit_in_bytes", "memory.max"); mem != w.mem {
			t.Errorf("%s: memory limit %s, want %s", step, mem, w.mem)
		}
		a.mu.Lock()
		disk := a.frameworks["fw"].executors["shared"].size.quota
		a.mu.Unlock()
		if disk != w.disk {
			t.Errorf("%s: disk quota %d, want %d", step, disk, w.disk)
		}
	}
	m.events <- launchEvent1("fw", task("big", "cpus:0.5;mem:256;disk:64"), task("small", "cpus:0.2;mem:64;disk:1"))
	for _, id := range []mezzo.TaskID{"big", "small"} {
		if s := m.nextUpdate(t, id); s.State != mezzo.TaskRunning {
			t.Fatalf("%s: %v %q", id, s.State, s.Message)
		}
	}
	check("two tasks", want{"80000", fmt.Sprint(352 << 20), 66 << 20})
	m.events <- killEvent("fw", "big")
	if s := m.end(t, "big"); s.State != mezzo.TaskKilled {
		t.Fatalf("big: %v %q", s.State, s.Message)
	}
	check("the big task ended", want{"30000", fmt.Sprint(352 << 20), 66 << 20})
	m.events <- launchEvent1("fw", task("late", "cpus:0.1;mem:32;disk:1"))
	if s := m.nextUpdate(t, "late"); s.State != mezzo.TaskRunning {
		t.Fatalf("late: %v %q", s.State, s.Message)
	}
	check("a task joined", want{"40000", fmt.Sprint(352 << 20), 66 << 20})
	m.events <- launchEvent1("fw", task("huge", "cpus:0.1;mem:512;disk:100"))
	if s := m.nextUpdate(t, "huge"); s.State != mezzo.TaskRunning {
		t.Fatalf("huge: %v %q", s.State, s.Message)
	}
	check("a bigger task joined", want{"50000", fmt.Sprint((32 + 64 + 32 + 512) << 20), (1 + 1 + 1 + 100) << 20})
}

// A restarted agent keeps an adopted container at the size the previous
// run gave it (in the checkpoint), not at that of its live tasks alone: a
// task's files left in the shared sandbox do not put it over a quota cut
// by the restart.
func TestAdoptedContainerKeepsItsSize(t *testing.T) {
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	cfg := Config{WorkDir: dir, DetachOnStop: true, ContainerDiskWatchInterval: time.Hour, ExecutorReregisterTimeout: 5 * time.Second}
	_, stop := startAgent(t, m, cfg)
	<-m.subscribes
	ex := &mezzo.ExecutorInfo{ID: "shared", Kind: "sleeper", Resources: mezzo.MustParseResources("cpus:0.1;mem:32;disk:1")}
	m.events <- launchEvent1("fw",
		mezzo.TaskInfo{ID: "big", Executor: ex, Resources: mezzo.MustParseResources("cpus:0.1;mem:32;disk:64")},
		mezzo.TaskInfo{ID: "small", Executor: ex, Resources: mezzo.MustParseResources("cpus:0.1;mem:32;disk:1")})
	for _, id := range []mezzo.TaskID{"big", "small"} {
		if s := m.nextUpdate(t, id); s.State != mezzo.TaskRunning {
			t.Fatalf("%s: %v %q", id, s.State, s.Message)
		}
	}
	m.events <- killEvent("fw", "big")
	if s := m.end(t, "big"); s.State != mezzo.TaskKilled {
		t.Fatalf("big: %v %q", s.State, s.Message)
	}
	stop()
	cfg.DetachOnStop = false // the next run kills the executor when it ends
	next, _ := startAgent(t, m, cfg)
	next.mu.Lock()
	var size containerSize
	if fw := next.frameworks["fw"]; fw != nil && fw.executors["shared"] != nil {
		size = fw.executors["shared"].size
	}
	next.mu.Unlock()
	if size.quota != 66<<20 || size.limits.MemBytes != 96<<20 || size.limits.CPUs != 0.2 {
		t.Errorf("adopted container sized %+v, want the 66 MiB quota and 96 MiB memory it had, and cpus 0.2 for its live task", size)
	}
}

// A command task's disk is also its largest file (RLIMIT_FSIZE): a write
// of 50 MB into a task of 2 MB stops at 2 MB at once, and the task, over
// its quota when it ends, fails for the disk even though no measurement
// fell while it ran.
func TestDiskQuotaIsTheLargestFile(t *testing.T) {
	parent := cgroupParent(t)
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	startAgent(t, m, Config{WorkDir: dir, Isolation: "cgroups", CgroupParent: parent, ContainerDiskWatchInterval: time.Hour})
	<-m.subscribes
	m.events <- launchEvent1("fw", shellTask("big", "cpus:0.5;mem:64;disk:2", "head -c 50000000 /dev/zero > big; echo head: $?"))
	s := m.end(t, "big")
	if s.State != mezzo.TaskFailed || s.Reason != mezzo.ReasonDiskLimit {
		t.Errorf("big ended %v %s %q; want TASK_FAILED for the disk", s.State, s.Reason, s.Message)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "sandboxes", "f-fw", "e-command-big-*", "big"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	if st, err := os.Stat(files[0]); err != nil || st.Size() != 2<<20 {
		t.Errorf("the task's file is %d bytes (%v), want stopped at its 2 MiB disk", st.Size(), err)
	}
}

// Every container has the agent's pids limit: a fork bomb stops at it,
// is killed on request, and the next task runs.
func TestForkBombIsContained(t *testing.T) {
	parent := cgroupParent(t)
	m := startFakeMaster(t, true)
	startAgent(t, m, Config{WorkDir: t.TempDir(), Isolation: "cgroups", CgroupParent: parent, ContainerPidsMax: 32})
	<-m.subscribes
	m.events <- launchEvent1("fw", shellTask("bomb", "cpus:0.5;mem:256", "bash -c ':(){ :|:& };:; sleep 600'"))
	if s := m.nextUpdate(t, "bomb"); s.State != mezzo.TaskRunning {
		t.Fatalf("bomb: %v %q", s.State, s.Message)
	}
	var maxFiles []string
	waitFor(t, func() bool {
		maxFiles, _ = filepath.Glob(filepath.Join("/sys/fs/cgroup/pids", "*", parent, "*", "pids.max"))
		if len(maxFiles) == 0 {
			maxFiles, _ = filepath.Glob(filepath.Join("/sys/fs/cgroup/pids", parent, "*", "pids.max"))
		}
		return len(maxFiles) == 1
	})
	if b, _ := os.ReadFile(maxFiles[0]); strings.TrimSpace(string(b)) != "32" {
		t.Errorf("the bomb's pids.max = %q, want 32", b)
	}
	// pids.events counts the forks the limit refused.
	dir := filepath.Dir(maxFiles[0])
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "pids.events"))
		return strings.TrimSpace(string(b)) != "max 0"
	})
	var n int
	b, _ := os.ReadFile(filepath.Join(dir, "pids.current"))
	if _, err := fmt.Sscan(string(b), &n); err != nil || n > 32 {
		t.Errorf("the bomb holds %d processes (%v), over its 32", n, err)
	}
	m.events <- killEvent("fw", "bomb")
	if s := m.end(t, "bomb"); s.State != mezzo.TaskKilled && s.State != mezzo.TaskFailed {
		t.Errorf("bomb ended %v %q after a kill", s.State, s.Message)
	}
	m.events <- launchEvent1("fw", shellTask("after", "cpus:0.1;mem:32", "echo fine"))
	if s := m.end(t, "after"); s.State != mezzo.TaskFinished {
		t.Errorf("the task after the bomb ended %v %q", s.State, s.Message)
	}
}

func TestLimitConfigIsChecked(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{ContainerPidsMax: -1}, "ContainerPidsMax"},
		{Config{ContainerLogMaxSize: -1}, "ContainerLogMaxSize"},
		{Config{ContainerLogMaxFiles: -2}, "ContainerLogMaxFiles"},
		{Config{GCDelay: -time.Second}, "GCDelay"},
		{Config{GCDiskHeadroom: 1}, "GCDiskHeadroom"},
		{Config{ContainerDiskWatchInterval: -time.Second}, "ContainerDiskWatchInterval"},
		{Config{DiskWatchInterval: -time.Second}, "DiskWatchInterval"},
	} {
		c.cfg.Master, c.cfg.Emulated = "127.0.0.1:1", true
		if err := c.cfg.withDefaults(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	cfg := Config{Master: "127.0.0.1:1", Emulated: true}
	if err := cfg.withDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.ContainerPidsMax != 1024 || cfg.GCDelay != 7*24*time.Hour || cfg.GCDiskHeadroom != 0.1 ||
		cfg.ContainerDiskWatchInterval != 15*time.Second || cfg.DiskWatchInterval != time.Minute ||
		cfg.ContainerLogMaxSize != 10<<20 || cfg.ContainerLogMaxFiles != 2 {
		t.Errorf("defaults %+v", cfg)
	}
}

// A container that declares no disk is held to the agent's default quota
// (Mesos would leave it unlimited: a tenant could fill the agent's disk by
// declaring none); a negative default restores Mesos's behaviour.
func TestDiskDefaultQuotaHoldsContainersThatDeclareNone(t *testing.T) {
	write := "i=0; while [ $i -lt 6 ]; do i=$((i+1)); head -c 600000 /dev/zero > f$i; done; sleep 30"
	for _, c := range []struct {
		name    string
		def     int64
		limited bool
	}{{"default 2 MiB", 2 << 20, true}, {"none", -1, false}} {
		t.Run(c.name, func(t *testing.T) {
			m := startFakeMaster(t, true)
			startAgent(t, m, Config{WorkDir: t.TempDir(), ContainerDiskWatchInterval: 50 * time.Millisecond, ContainerDiskDefault: c.def})
			<-m.subscribes
			m.events <- launchEvent1("fw", shellTask("nodisk", "cpus:0.1;mem:32", write))
			if c.limited {
				s := m.end(t, "nodisk")
				if s.State != mezzo.TaskFailed || s.Reason != mezzo.ReasonDiskLimit || !strings.Contains(s.Message, "default quota for containers that declare no disk (2 MB)") {
					t.Errorf("nodisk ended %v %s %q; want TASK_FAILED for the disk, naming the default quota", s.State, s.Reason, s.Message)
				}
				return
			}
			if s := m.nextUpdate(t, "nodisk"); s.State != mezzo.TaskRunning {
				t.Fatalf("nodisk: %v %q", s.State, s.Message)
			}
			time.Sleep(time.Second) // the watcher measures many times meanwhile
			m.events <- killEvent("fw", "nodisk")
			if s := m.end(t, "nodisk"); s.State != mezzo.TaskKilled {
				t.Errorf("nodisk with no default quota ended %v %s %q; want killed on request", s.State, s.Reason, s.Message)
			}
		})
	}
}
