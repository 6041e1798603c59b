package isolation

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
)

// pidsDir is the directory holding a container's pids.max.
func pidsDir(t *testing.T, h hierarchy, id string) string {
	t.Helper()
	switch h := h.(type) {
	case *v1Hierarchy:
		d, err := h.dir(cgroup1.Pids, id)
		if err != nil {
			t.Fatal(err)
		}
		return d
	case *v2Hierarchy:
		return filepath.Join(h.mount, h.group(id))
	}
	t.Fatalf("unknown hierarchy %T", h)
	return ""
}

func readTrim(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// A shell forking forty sleepers into a container of ten pids gets EAGAIN
// at the tenth (dash then gives up, "Cannot fork"); the container never
// holds more than ten, Update moves the limit, and Kill ends them all.
func TestCgroupsPidsLimitIsWrittenAndEnforced(t *testing.T) {
	iso := newTestCgroups(t)
	cmd := exec.Command("/bin/sh", "-c", `i=0; while [ $i -lt 40 ]; do i=$((i+1)); sleep 60 </dev/null >/dev/null 2>&1 & done; echo all forked`)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	c, err := iso.Start("bomb", cmd, Limits{CPUs: 1, MemBytes: 256 << 20, Pids: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	dir := pidsDir(t, iso.h, "bomb")
	if got := readTrim(t, filepath.Join(dir, "pids.max")); got != "10" {
		t.Errorf("pids.max = %s, want 10", got)
	}
	info, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if info.Success() || strings.Contains(out.String(), "all forked") {
		t.Fatalf("shell %v, output %q: it forked forty processes in a container of ten", info, out.String())
	}
	pids, err := pidsUnder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) == 0 || len(pids) > 10 {
		t.Errorf("%d processes left in the container, want 1..10", len(pids))
	}
	if err := c.Update(Limits{CPUs: 1, MemBytes: 256 << 20, Pids: 64}); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(dir, "pids.max")); got != "64" {
		t.Errorf("pids.max after Update = %s, want 64", got)
	}
	if err := c.Update(Limits{Pids: -1}); err == nil {
		t.Error("Update with negative pids: no error")
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		waitGone(t, pid, "a sleeper")
	}
}

// A child OOM-killed inside a container whose started process lives on
// closes OOM while that process still runs; Wait then reports the kill.
func TestCgroupsOOMOfAChildIsSeenWhileTheParentRuns(t *testing.T) {
	iso := newTestCgroups(t)
	cmd := helperCmd("oomchild")
	out, _ := cmd.StdoutPipe()
	c, err := iso.Start("oomchild", cmd, Limits{CPUs: 1, MemBytes: 48 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if line := readLine(t, out); !strings.Contains(line, "killed") {
		t.Fatalf("helper said %q, want its child killed", line)
	}
	select {
	case <-c.OOM():
	case <-time.After(5 * time.Second):
		t.Fatal("OOM not closed 5 s after the child was OOM-killed")
	}
	if !Alive(cmd.Process.Pid) {
		t.Fatal("the parent died too; the test proves nothing")
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if info, _ := c.Wait(); !info.OOMKilled || info.Signal != syscall.SIGKILL {
		t.Errorf("Wait = %+v, want SIGKILL with OOMKilled", info)
	}
}

// OOM stays open for a container that stays within its memory.
func TestCgroupsOOMStaysOpenWithinTheLimit(t *testing.T) {
	iso := newTestCgroups(t)
	c, err := iso.Start("fits", helperCmd("alloc", "16"), Limits{MemBytes: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if info, err := c.Wait(); err != nil || !info.Success() {
		t.Fatalf("Wait = %+v, %v", info, err)
	}
	select {
	case <-c.OOM():
		t.Error("OOM closed for a container that never reached its limit")
	default:
	}
}

// fileSizeOf reads the "Max file size" soft limit of pid.
func fileSizeOf(t *testing.T, pid int) string {
	t.Helper()
	for _, line := range strings.Split(readTrim(t, "/proc/"+strconv.Itoa(pid)+"/limits"), "\n") {
		if strings.HasPrefix(line, "Max file size") {
			return strings.Fields(strings.TrimPrefix(line, "Max file size"))[0]
		}
	}
	t.Fatalf("no Max file size in /proc/%d/limits", pid)
	return ""
}

// The file size limit holds from the process's first instruction: a
// write past it fails (the Go helper ignores SIGXFSZ, as the executor
// does, and sees EFBIG), on both hierarchies (v2 starts through the shim
// when there is something to set), and Update moves it.
func TestFileSizeLimitStopsWritesAndUpdates(t *testing.T) {
	for _, v := range []struct {
		name string
		iso  func(*testing.T) *cgroupsIsolator
	}{{"host", newTestCgroups}, {"v2", newTestV2}} {
		t.Run(v.name, func(t *testing.T) {
			iso := v.iso(t)
			file := filepath.Join(t.TempDir(), "big")
			cmd := helperCmd("write", strconv.Itoa(4<<20), file)
			var out strings.Builder
			cmd.Stdout = &out
			c, err := iso.Start("fsize", cmd, Limits{FileSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if info, err := c.Wait(); err != nil || !info.Success() {
				t.Fatalf("Wait = %+v, %v (%s)", info, err, out.String())
			}
			c.Destroy()
			if want := fmt.Sprint(1<<20) + " "; !strings.HasPrefix(out.String(), want) || !strings.Contains(out.String(), "file too large") {
				t.Errorf("helper wrote %q, want %q bytes and then 'file too large'", out.String(), want)
			}
			if st, err := os.Stat(file); err != nil || st.Size() != 1<<20 {
				t.Errorf("file: %v (%v), want exactly 1 MiB", st, err)
			}

			cmd = helperCmd("sleep")
			so, _ := cmd.StdoutPipe()
			c, err = iso.Start("fsize-update", cmd, Limits{FileSize: 8 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Destroy()
			readLine(t, so)
			if got := fileSizeOf(t, cmd.Process.Pid); got != fmt.Sprint(8<<20) {
				t.Errorf("started with file size %s, want %d", got, 8<<20)
			}
			if err := c.Update(Limits{FileSize: 1 << 20}); err != nil {
				t.Fatal(err)
			}
			if got := fileSizeOf(t, cmd.Process.Pid); got != fmt.Sprint(1<<20) {
				t.Errorf("after Update file size %s, want %d", got, 1<<20)
			}
			// Raising a hard limit needs CAP_SYS_RESOURCE, which some
			// containers withhold even from root.
			if !hasCap(t, capSysResource) {
				t.Log("no CAP_SYS_RESOURCE: raising the limit again is not tested")
				return
			}
			if err := c.Update(Limits{}); err != nil {
				t.Fatal(err)
			}
			if got := fileSizeOf(t, cmd.Process.Pid); got != "unlimited" {
				t.Errorf("after Update to no limit file size %s, want unlimited", got)
			}
		})
	}
}

const capSysResource = 24

// hasCap reports whether this process has capability n in effect.
func hasCap(t *testing.T, n uint) bool {
	t.Helper()
	for _, line := range strings.Split(readTrim(t, "/proc/self/status"), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			bits, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && bits&(1<<n) != 0
		}
	}
	return false
}

// The file size limit binds a task of another user too (set by the task's
// own shim: from outside, that would need CAP_SYS_RESOURCE), and a shell
// tool that writes past it dies of SIGXFSZ.
func TestFileSizeLimitBindsAnotherUser(t *testing.T) {
	iso := newTestCgroups(t)
	dir, err := os.MkdirTemp("", "mezzo-fsize-") // not t.TempDir: its parent is closed to other users
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "big")
	cmd := exec.Command("/bin/sh", "-c", "head -c 4194304 /dev/zero > "+file+"; echo $?")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out strings.Builder
	cmd.Stdout = &out
	c, err := iso.Start("nobody", cmd, Limits{FileSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if info, err := c.Wait(); err != nil || !info.Success() {
		t.Fatalf("Wait = %+v, %v", info, err)
	}
	if got, want := strings.TrimSpace(out.String()), strconv.Itoa(128+int(syscall.SIGXFSZ)); got != want {
		t.Errorf("head exited %s, want %s (SIGXFSZ)", got, want)
	}
	if st, err := os.Stat(file); err != nil || st.Size() != 1<<20 {
		t.Errorf("file: %v (%v), want exactly 1 MiB", st, err)
	}
}

// fakeV2 is a fake: a plain directory shaped like a cgroup v2 group (the
// files the kernel would provide, created empty), for the v2 code that a
// hybrid host cannot run against real controllers. Unified hosts run the
// real thing in the tests above.
func fakeV2(t *testing.T, files ...string) *v2Group {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &v2Group{h: &v2Hierarchy{mount: dir, limits: true}, dir: dir}
}

func TestV2UpdateWritesPidsMax(t *testing.T) {
	g := fakeV2(t, "cpu.weight", "cpu.max", "memory.max", "memory.swap.max", "memory.oom.group", "pids.max")
	for _, c := range []struct {
		pids int64
		want string
	}{{1024, "1024"}, {0, "max"}} {
		if err := g.update(Limits{CPUs: 1, MemBytes: 64 << 20, Pids: c.pids}); err != nil {
			t.Fatal(err)
		}
		if got := readTrim(t, filepath.Join(g.dir, "pids.max")); got != c.want {
			t.Errorf("Pids %d: pids.max = %q, want %q", c.pids, got, c.want)
		}
	}
}

// The OOM verdict comes from the oom_kill counter: memory.events on v2,
// memory.oom_control on v1 (read from a fake of each file here; the real
// ones are read by the tests above).
func TestOOMCountersAreRead(t *testing.T) {
	for _, c := range []struct {
		content string
		want    bool
	}{
		{"low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\noom_group_kill 0\n", false},
		{"low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\noom_group_kill 0\n", true},
		{"low 0\nhigh 0\nmax 0\noom 0\n", false}, // a kernel without the counter
	} {
		g := fakeV2(t)
		if err := os.WriteFile(filepath.Join(g.dir, "memory.events"), []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := g.oomKilled(); err != nil || got != c.want {
			t.Errorf("memory.events %q: oomKilled = %v, %v; want %v", c.content, got, err, c.want)
		}
	}
	file := filepath.Join(t.TempDir(), "memory.oom_control")
	for _, c := range []struct {
		content string
		want    int64
	}{{"oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", 0}, {"oom_kill_disable 0\nunder_oom 1\noom_kill 4\n", 4}} {
		if err := os.WriteFile(file, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if n, err := readKeyed(file, "oom_kill"); err != nil || n != c.want {
			t.Errorf("memory.oom_control %q: oom_kill = %d, %v; want %d", c.content, n, err, c.want)
		}
	}
}
