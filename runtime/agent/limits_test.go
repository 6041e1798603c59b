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
