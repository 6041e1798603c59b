package attack

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Probes of the limits on what one task may take from an agent: processes,
// disk, output, sandboxes left behind, memory of a child.

// killTask asks the master to kill one of f's tasks.
func (f *framework) killTask(id string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.client.Kill(ctx, &api.KillRequest{Header: f.header(), TaskId: id}); err != nil {
		f.t.Fatalf("kill %s: %v", id, err)
	}
}

var terminal = []mezzo.TaskState{mezzo.TaskFinished, mezzo.TaskFailed, mezzo.TaskKilled, mezzo.TaskError, mezzo.TaskLost, mezzo.TaskDropped, mezzo.TaskGone}

// sandboxOf is the sandbox directory of a command task on agent a.
func sandboxOf(t *testing.T, a *agentProc, fw, task string) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(a.workDir, "sandboxes", "f-"+fw, "e-command-"+task+"-*"))
	if len(dirs) != 1 {
		t.Fatalf("sandboxes of task %s: %v", task, dirs)
	}
	return dirs[0]
}

// cgroupParentOf is the --cgroup-parent agent a was started with.
func cgroupParentOf(t *testing.T, a *agentProc) string {
	t.Helper()
	for i, arg := range a.args {
		if arg == "--cgroup-parent" && i+1 < len(a.args) {
			return a.args[i+1]
		}
	}
	t.Fatal("agent has no --cgroup-parent")
	return ""
}

// pidsCgroups are the pids cgroups of agent a's containers (cgroup v1, as
// on these machines; on a unified host, the v2 groups).
func pidsCgroups(t *testing.T, a *agentProc) []string {
	parent := cgroupParentOf(t, a)
	var out []string
	for _, pat := range []string{"pids", "pids/*", "pids/*/*", "*", "*/*"} {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", pat, parent, "*", "pids.max"))
		for _, d := range dirs {
			out = append(out, filepath.Dir(d))
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

func readInt(t *testing.T, file string) int64 {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return n
}

// A fork bomb of tenant-b's is held to the agent's pids limit: it never
// holds more, tenant-a's task on the same agent still starts and
// finishes, the bomb is killed on request, and its container is gone.
// (Before, pids.max was "max" and one task held 2,009 processes.)
func TestForkBombIsContained(t *testing.T) {
	needRoot(t)
	slow(t)
	c := newCluster(t, clusterOptions{AgentArgs: []string{"--container-pids-max", "64"}})
	b := mustSubscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{Name: "bomber", Role: "b", User: "nobody"})
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "victim", Role: "a", User: "nobody"})
	// bash, unlike dash, survives a refused fork and tries again: the
	// classic bomb keeps its container full until it is killed.
	b.run("bomb", "cpus:0.5;mem:256", "bash -c ':(){ :|:& };:; sleep 600'")
	b.waitState("bomb", 30*time.Second, mezzo.TaskRunning)
	defer func() { t.Logf("the bomb's states: %v", b.statesOf("bomb")) }()
	var dir string
	eventually(t, "the bomb's container to hit its pids limit", 20*time.Second, func() bool {
		dirs := pidsCgroups(t, c.agents[0])
		if len(dirs) != 1 {
			return false
		}
		dir = dirs[0]
		ev, _ := os.ReadFile(filepath.Join(dir, "pids.events"))
		return len(ev) > 0 && strings.TrimSpace(string(ev)) != "max 0"
	})
	if got := readInt(t, filepath.Join(dir, "pids.max")); got != 64 {
		t.Errorf("the bomb's pids.max = %d, want 64", got)
	}
	for i := 0; i < 20; i++ { // the bomb keeps trying; it never gets past the limit
		if n := readInt(t, filepath.Join(dir, "pids.current")); n > 64 {
			t.Fatalf("the bomb holds %d processes, over its 64", n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	a.run("neighbour", "cpus:0.1;mem:32", "echo still here")
	if end := a.waitState("neighbour", 30*time.Second, terminal...); end.State != mezzo.TaskFinished {
		t.Errorf("tenant-a's task beside the bomb ended %v: %s", end.State, end.Message)
	}
	b.killTask("bomb")
	end := b.waitState("bomb", 30*time.Second, terminal...)
	if end.State != mezzo.TaskKilled && end.State != mezzo.TaskFailed {
		t.Errorf("the bomb ended %v after a kill: %s", end.State, end.Message)
	}
	eventually(t, "the bomb's cgroup to go", 15*time.Second, func() bool { _, err := os.Stat(dir); return os.IsNotExist(err) })
	if c.agents[0].Exited() {
		t.Fatal("the agent died")
	}
}

// usedBytes is what the file system holding dir has in use.
func usedBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize
}

// duBytes is what a sandbox holds on disk.
func duBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512
			}
		}
		return nil
	})
	return total
}

// Tasks with disk:10 that try to write 2 GiB (one file, many files of
// 5 MB each, or their stdout) are failed for the disk, naming usage and
// quota, long before 2 GiB is on disk: the one file stops at 10 MiB
// (the task's disk is its largest file), and the others are caught by the
// next measurement. (Before, a task with disk:10 wrote a 2 GiB stdout and
// finished.)
func TestDiskQuotaStopsAWriter(t *testing.T) {
	needRoot(t)
	slow(t)
	c := newCluster(t, clusterOptions{Resources: "cpus:2;mem:512;disk:1024", AgentArgs: []string{"--container-disk-watch-interval", "100ms"}})
	used := usedBytes(t, c.agents[0].workDir)
	b := mustSubscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{Name: "filler", Role: "b", User: "nobody"})
	writers := map[string]string{
		"onefile":   "head -c 2147483648 /dev/zero > big; sleep 60",
		"manyfiles": "i=0; while [ $i -lt 410 ]; do i=$((i+1)); head -c 5000000 /dev/zero > f$i; done; sleep 60",
		"stdout":    "head -c 2147483648 /dev/zero; sleep 60",
	}
	for _, id := range []string{"onefile", "manyfiles", "stdout"} {
		b.run(id, "cpus:0.2;mem:64;disk:10", writers[id])
	}
	for _, id := range []string{"onefile", "manyfiles", "stdout"} {
		end := b.waitState(id, 60*time.Second, terminal...)
		if end.State != mezzo.TaskFailed || end.Reason != mezzo.ReasonDiskLimit ||
			!strings.Contains(end.Message, "disk usage") || !strings.Contains(end.Message, "exceeds quota (10 MB)") {
			t.Errorf("%s ended %v %s %q; want TASK_FAILED REASON_CONTAINER_LIMITATION_DISK naming usage and the 10 MB quota", id, end.State, end.Reason, end.Message)
		}
		sandbox := sandboxOf(t, c.agents[0], b.id, id)
		if du := duBytes(t, sandbox); du > 1<<30 {
			t.Errorf("%s: its sandbox holds %d MiB", id, du>>20)
		} else {
			t.Logf("%s: sandbox holds %d MiB when failed: %s", id, du>>20, end.Message)
		}
	}
	if st, err := os.Stat(filepath.Join(sandboxOf(t, c.agents[0], b.id, "onefile"), "big")); err != nil || st.Size() > 10<<20 {
		t.Errorf("the single file: %v (%v), want at most 10 MiB", st.Size(), err)
	}
	// The machine is shared, so others may write meanwhile; 6 GiB were
	// asked for, and far less must have been taken.
	if grew := usedBytes(t, c.agents[0].workDir) - used; grew > 2<<30 {
		t.Errorf("the disk's use grew by %d MiB", grew>>20)
	}
}

// A task that declares no disk is held to the agent's default quota: a
// tenant cannot fill the agent's disk by leaving disk out of its tasks.
func TestTaskWithoutDiskIsHeldToTheDefaultQuota(t *testing.T) {
	needRoot(t)
	c := newCluster(t, clusterOptions{AgentArgs: []string{"--container-disk-watch-interval", "100ms", "--container-disk-default", "8MB"}})
	b := mustSubscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{Name: "filler", Role: "b", User: "nobody"})
	b.run("nodisk", "cpus:0.2;mem:64", "i=0; while [ $i -lt 400 ]; do i=$((i+1)); head -c 5000000 /dev/zero > f$i; done; sleep 60")
	end := b.waitState("nodisk", 60*time.Second, terminal...)
	if end.State != mezzo.TaskFailed || end.Reason != mezzo.ReasonDiskLimit || !strings.Contains(end.Message, "declare no disk (8 MB)") {
		t.Errorf("nodisk ended %v %s %q; want TASK_FAILED REASON_CONTAINER_LIMITATION_DISK naming the default quota", end.State, end.Reason, end.Message)
	}
	if du := duBytes(t, sandboxOf(t, c.agents[0], b.id, "nodisk")); du > 256<<20 {
		t.Errorf("its sandbox holds %d MiB", du>>20)
	}
}

// A task printing far more than a log file holds, within its disk, gets
// its output rotated: bounded files, the newest output in the current
// file (served through the master as before), the one before it as .1.
func TestOutputIsRotated(t *testing.T) {
	needRoot(t)
	c := newCluster(t, clusterOptions{AgentArgs: []string{"--container-log-max-size", "1MB", "--container-log-max-files", "2"}})
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "chatty", Role: "a", User: "nobody"})
	a.run("chatty", "cpus:0.5;mem:64;disk:64", "seq 1 3000000; echo THE-END")
	if end := a.waitState("chatty", 60*time.Second, terminal...); end.State != mezzo.TaskFinished {
		t.Fatalf("chatty ended %v: %s", end.State, end.Message)
	}
	sandbox := sandboxOf(t, c.agents[0], a.id, "chatty")
	var all string
	for _, name := range []string{"task-chatty.stdout.2", "task-chatty.stdout.1", "task-chatty.stdout"} {
		b, err := os.ReadFile(filepath.Join(sandbox, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 1<<20 || (name != "task-chatty.stdout" && len(b) != 1<<20) {
			t.Errorf("%s holds %d bytes; want rotated files of 1 MiB", name, len(b))
		}
		all += string(b)
	}
	if _, err := os.Stat(filepath.Join(sandbox, "task-chatty.stdout.3")); err == nil {
		t.Error("task-chatty.stdout.3 kept with --container-log-max-files 2")
	}
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if lines[len(lines)-1] != "THE-END" {
		t.Errorf("the output ends %q", lines[len(lines)-1])
	}
	first, _ := strconv.Atoi(lines[1])
	for i, l := range lines[1 : len(lines)-1] {
		if l != strconv.Itoa(first+i) {
			t.Fatalf("kept output not continuous at line %d: %q, want %d", i, l, first+i)
		}
	}
	path := "/sandbox/" + c.agents[0].id + "/" + a.id + "/command-chatty/task-chatty.stdout"
	if code, body := c.httpGet(tenantA, path); code != 200 || !strings.HasSuffix(body, "3000000\nTHE-END\n") {
		t.Errorf("the current file through the master: %d, ends %q", code, body[max(0, len(body)-40):])
	}
	if code, body := c.httpGet(tenantA, path+".1"); code != 200 || len(body) == 0 {
		t.Errorf("the rotated file through the master: %d, %d bytes", code, len(body))
	}
}

// The sandbox of an ended executor is removed after --gc-delay, and the
// sandbox of a running one is not, also after the agent was killed and
// restarted and adopted it. (Before, nothing was ever removed.)
func TestSandboxesAreCollected(t *testing.T) {
	needRoot(t)
	slow(t)
	c := newCluster(t, clusterOptions{AgentArgs: []string{"--gc-delay", "2s", "--disk-watch-interval", "500ms"}})
	ag := c.agents[0]
	// One framework at a time: an outstanding offer to one is not made to
	// the other.
	b := mustSubscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{Name: "long", Role: "b", User: "nobody", FailoverTimeout: time.Minute})
	b.run("long", "cpus:0.1;mem:32", "sleep 120")
	b.waitState("long", 30*time.Second, mezzo.TaskRunning)
	long := sandboxOf(t, ag, b.id, "long")
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "short", Role: "a", User: "nobody"})
	a.run("quick", "cpus:0.1;mem:32", "echo done")
	if end := a.waitState("quick", 30*time.Second, terminal...); end.State != mezzo.TaskFinished {
		t.Fatalf("quick ended %v: %s", end.State, end.Message)
	}
	quick := sandboxOf(t, ag, a.id, "quick")
	eventually(t, "the ended task's sandbox to be removed", 15*time.Second, func() bool {
		_, err := os.Stat(quick)
		return os.IsNotExist(err)
	})
	if code, _ := c.httpGet(tenantA, "/sandbox/"+ag.id+"/"+a.id+"/command-quick/task-quick.stdout"); code != 404 {
		t.Errorf("a collected sandbox through the master: %d, want 404", code)
	}

	// The agent dies; its successor adopts the running executor, whose
	// sandbox looks an hour old, and must leave it alone.
	ag.Kill9(t)
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(long, past, past); err != nil {
		t.Fatal(err)
	}
	again := start(t, "agent-0-again", ag.args...)
	waitLog(t, again, "the restarted agent to register", registeredRE, 30*time.Second)
	time.Sleep(5 * time.Second) // more than twice --gc-delay
	if _, err := os.Stat(long); err != nil {
		t.Fatalf("the adopted executor's sandbox was removed: %v", err)
	}
	if states := b.statesOf("long"); states[len(states)-1] != mezzo.TaskRunning {
		t.Errorf("the adopted task: %v", states)
	}
	b.killTask("long")
	b.waitState("long", 30*time.Second, terminal...)
	eventually(t, "its sandbox to go once it ended", 15*time.Second, func() bool {
		_, err := os.Stat(long)
		return os.IsNotExist(err)
	})
}

// A task whose child the kernel OOM-kills while the task itself carries
// on is failed for the memory limit, at once, and also when it exits 0
// right after. (Before, it was reported TASK_FINISHED with no word of
// the kill.)
func TestOOMKilledChildFailsItsTask(t *testing.T) {
	needRoot(t)
	slow(t)
	c := newCluster(t, clusterOptions{})
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "hog", Role: "a", User: "nobody"})
	hog := "head -c 300000000 /dev/zero | tail > /dev/null; echo child gone: $?"
	start := time.Now()
	a.run("exits0", "cpus:0.2;mem:64", hog+"; exit 0")
	a.run("lingers", "cpus:0.2;mem:64", hog+"; sleep 60")
	for _, id := range []string{"exits0", "lingers"} {
		end := a.waitState(id, 45*time.Second, terminal...)
		if end.State != mezzo.TaskFailed || end.Reason != mezzo.ReasonMemoryLimit || !strings.Contains(end.Message, "OOM killer") {
			t.Errorf("%s ended %v %s %q; want TASK_FAILED REASON_CONTAINER_LIMITATION_MEMORY saying a process was OOM-killed", id, end.State, end.Reason, end.Message)
		}
	}
	if d := time.Since(start); d > 40*time.Second {
		t.Errorf("the lingering task failed after %v: not while it ran", d)
	}
}
