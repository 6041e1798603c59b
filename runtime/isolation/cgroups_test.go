package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup1"
)

// newTestCgroups returns a cgroups isolator under a parent of its own (so
// tests and concurrent runs never see each other's containers) and removes
// everything it made when the test ends.
func newTestCgroups(t *testing.T) *cgroupsIsolator {
	t.Helper()
	requireRoot(t)
	parent := fmt.Sprintf("mezzo-test-%d-%s", os.Getpid(), t.Name())
	iso, err := newCgroups(Options{Parent: parent})
	if err != nil {
		t.Fatalf("newCgroups: %v", err)
	}
	t.Cleanup(func() { removeParent(t, iso.h) })
	return iso
}

func removeParent(t testing.TB, h hierarchy) {
	t.Helper()
	if _, _, err := (&cgroupsIsolator{h: h}).Recover(nil); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, d := range parentDirs(t, h) {
		if err := removeTree(d); err != nil {
			t.Errorf("remove parent: %v", err)
		}
	}
}

// parentDirs are the parent cgroup's directories (one per controller on v1).
func parentDirs(t testing.TB, h hierarchy) []string {
	return containerDirs(t, h, "")
}

func containerDirs(t testing.TB, h hierarchy, id string) []string {
	t.Helper()
	switch h := h.(type) {
	case *v1Hierarchy:
		var dirs []string
		for _, s := range h.subsystems {
			d, err := h.dir(s.Name(), id)
			if err != nil {
				t.Fatal(err)
			}
			dirs = append(dirs, d)
		}
		return dirs
	case *v2Hierarchy:
		return []string{filepath.Join(h.mount, h.parent, id)}
	}
	t.Fatalf("unknown hierarchy %T", h)
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestCgroupsProcessStartsInsideItsCgroup(t *testing.T) {
	iso := newTestCgroups(t)
	cmd := helperCmd("cgroup")
	var out strings.Builder
	cmd.Stdout = &out
	c, err := iso.Start("in-cgroup", cmd, Limits{CPUs: 1, MemBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Wait()
	if err != nil || !info.Success() {
		t.Fatalf("Wait = %v, %v; want success", info, err)
	}
	// The helper read /proc/self/cgroup as its first action: every
	// controller we manage must already show the container.
	want := map[string]bool{}
	switch h := iso.h.(type) {
	case *v1Hierarchy:
		for _, s := range h.subsystems {
			want[string(s.Name())] = true
		}
	case *v2Hierarchy:
		want[""] = true
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			t.Fatalf("bad /proc/self/cgroup line %q", line)
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			if want[ctl] {
				if !strings.HasSuffix(parts[2], "/in-cgroup") {
					t.Errorf("controller %q: process started in %s, want the container's cgroup", ctl, parts[2])
				}
				delete(want, ctl)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("controllers not listed in the child's /proc/self/cgroup: %v\n%s", want, out.String())
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
}

func TestCgroupsMemoryLimitKillsAndReportsOOM(t *testing.T) {
	iso := newTestCgroups(t)
	cmd := helperCmd("alloc", "512")
	c, err := iso.Start("oom", cmd, Limits{CPUs: 1, MemBytes: 48 << 20})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !info.OOMKilled || info.Signal != syscall.SIGKILL {
		t.Fatalf("Wait = %+v (%v); want killed by SIGKILL with OOMKilled", info, info)
	}
	if !strings.Contains(info.String(), "memory limit") {
		t.Errorf("ExitInfo.String() = %q; want it to mention the memory limit", info.String())
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
}

func TestCgroupsWithinMemoryLimitIsNotOOM(t *testing.T) {
	iso := newTestCgroups(t)
	c, err := iso.Start("fits", helperCmd("alloc", "16"), Limits{MemBytes: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Wait()
	if err != nil || !info.Success() {
		t.Fatalf("Wait = %+v, %v; want success", info, err)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
}

// limitFiles reads back what the kernel holds for a container's limits.
func limitFiles(t *testing.T, h hierarchy, id string) map[string]string {
	t.Helper()
	read := func(dir, f string) string {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	got := map[string]string{}
	switch h := h.(type) {
	case *v1Hierarchy:
		cpu, _ := h.dir(cgroup1.Cpu, id)
		mem, _ := h.dir(cgroup1.Memory, id)
		for _, f := range []string{"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"} {
			got[f] = read(cpu, f)
		}
		got["memory.limit_in_bytes"] = read(mem, "memory.limit_in_bytes")
		if h.memsw {
			got["memory.memsw.limit_in_bytes"] = read(mem, "memory.memsw.limit_in_bytes")
		}
	case *v2Hierarchy:
		dir := filepath.Join(h.mount, h.group(id))
		for _, f := range []string{"cpu.weight", "cpu.max", "memory.max", "memory.oom.group"} {
			got[f] = read(dir, f)
		}
	}
	return got
}

func wantLimits(h hierarchy, cpus float64, mem int64) map[string]string {
	switch h := h.(type) {
	case *v1Hierarchy:
		want := map[string]string{
			"cpu.shares":            strconv.Itoa(int(1024 * cpus)),
			"cpu.cfs_quota_us":      strconv.Itoa(int(cpus * 100000)),
			"cpu.cfs_period_us":     "100000",
			"memory.limit_in_bytes": strconv.FormatInt(mem, 10),
		}
		if h.memsw {
			want["memory.memsw.limit_in_bytes"] = want["memory.limit_in_bytes"]
		}
		return want
	default:
		return map[string]string{
			"cpu.weight":       strconv.Itoa(int(100 * cpus)),
			"cpu.max":          fmt.Sprintf("%d 100000", int(cpus*100000)),
			"memory.max":       strconv.FormatInt(mem, 10),
			"memory.oom.group": "1",
		}
	}
}

func checkLimits(t *testing.T, h hierarchy, id string, cpus float64, mem int64) {
	t.Helper()
	got, want := limitFiles(t, h, id), wantLimits(h, cpus, mem)
	for f, w := range want {
		if got[f] != w {
			t.Errorf("after limits cpus=%g mem=%d: %s = %s, want %s", cpus, mem, f, got[f], w)
		}
	}
}

func TestCgroupsLimitsAreWrittenAndUpdated(t *testing.T) {
	iso := newTestCgroups(t)
	cmd := helperCmd("sleep")
	out, _ := cmd.StdoutPipe()
	c, err := iso.Start("limits", cmd, Limits{CPUs: 1.5, MemBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	readLine(t, out)
	checkLimits(t, iso.h, "limits", 1.5, 64<<20)

	// Raising memory must write memsw before limit_in_bytes on v1, and
	// lowering it the other way round; both must succeed.
	for _, l := range []Limits{{CPUs: 2.5, MemBytes: 256 << 20}, {CPUs: 0.5, MemBytes: 48 << 20}} {
		if err := c.Update(l); err != nil {
			t.Fatalf("Update(%v): %v", l, err)
		}
		checkLimits(t, iso.h, "limits", l.CPUs, l.MemBytes)
	}
	if err := c.Update(Limits{CPUs: -1}); err == nil {
		t.Error("Update with negative cpus: no error")
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	info, err := c.Wait()
	if err != nil || info.Signal != syscall.SIGKILL || info.OOMKilled {
		t.Fatalf("Wait after Kill = %+v, %v; want SIGKILL, no OOM", info, err)
	}
}

// Kill ends every process of the container, a grandchild that left the
// process group and session included, also when the started process is
// stopped (SIGSTOP: an executor a debugger or the operator paused), which
// can hold a v1 cgroup in FREEZING.
func TestCgroupsKillKillsEveryProcess(t *testing.T) {
	for _, stopped := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopped=%v", stopped), func(t *testing.T) {
			iso := newTestCgroups(t)
			cmd := helperCmd("tree")
			out, _ := cmd.StdoutPipe()
			c, err := iso.Start("tree", cmd, Limits{CPUs: 1, MemBytes: 256 << 20})
			if err != nil {
				t.Fatal(err)
			}
			fields := strings.Fields(readLine(t, out)) // "<grandchild pid> ready"
			grandchild, err := strconv.Atoi(fields[0])
			if err != nil {
				t.Fatalf("helper said %q", fields)
			}
			if stopped {
				if err := syscall.Kill(cmd.Process.Pid, syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Kill(); err != nil {
				t.Fatal(err)
			}
			if info, _ := c.Wait(); info.Signal != syscall.SIGKILL {
				t.Fatalf("started process: %v, want killed", info)
			}
			// Only the cgroup still holds the grandchild. It must be gone
			// (or a zombie awaiting its reaper).
			waitGone(t, grandchild, "the grandchild")
			if err := c.Destroy(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCgroupsDestroyRemovesTheCgroup(t *testing.T) {
	iso := newTestCgroups(t)
	cmd := helperCmd("sleep")
	out, _ := cmd.StdoutPipe()
	c, err := iso.Start("gone", cmd, Limits{CPUs: 0.25, MemBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	readLine(t, out)
	dirs := containerDirs(t, iso.h, "gone")
	for _, d := range dirs {
		if !exists(d) {
			t.Fatalf("container cgroup %s missing while running", d)
		}
	}
	// Destroy while the process still runs: it must kill it first.
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if exists(d) {
			t.Errorf("cgroup %s still exists after Destroy", d)
		}
	}
	if info, err := c.Wait(); err != nil || info.Signal != syscall.SIGKILL {
		t.Errorf("Wait after Destroy = %v, %v; want SIGKILL", info, err)
	}
	if err := c.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if err := c.Update(Limits{CPUs: 1}); err == nil {
		t.Error("Update after Destroy: no error")
	}
}

func TestCgroupsDuplicateIDIsRejected(t *testing.T) {
	iso := newTestCgroups(t)
	cmd := helperCmd("sleep")
	out, _ := cmd.StdoutPipe()
	c, err := iso.Start("dup", cmd, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	readLine(t, out)
	if _, err := iso.Start("dup", helperCmd("exit", "0"), Limits{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second Start with the same id: err = %v, want 'already exists'", err)
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if _, err := iso.Start(bad, helperCmd("exit", "0"), Limits{}); err == nil {
			t.Errorf("Start(%q): no error", bad)
		}
	}
}

func TestCleanupRemovesLeftoversOfAPreviousRun(t *testing.T) {
	iso := newTestCgroups(t)
	var cs []Container
	for _, id := range []string{"left-a", "left-b"} {
		cmd := helperCmd("sleep")
		out, _ := cmd.StdoutPipe()
		c, err := iso.Start(id, cmd, Limits{CPUs: 0.5, MemBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		readLine(t, out)
		cs = append(cs, c)
	}
	// A new agent (a new isolator on the same parent) finds them.
	again, err := newCgroups(Options{Parent: fmt.Sprintf("mezzo-test-%d-%s", os.Getpid(), t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	_, removed, err := again.Recover(nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []string{"left-a", "left-b"}) {
		t.Errorf("Cleanup removed %v, want [left-a left-b]", removed)
	}
	for _, id := range removed {
		for _, d := range containerDirs(t, iso.h, id) {
			if exists(d) {
				t.Errorf("cgroup %s still exists after Cleanup", d)
			}
		}
	}
	for _, c := range cs {
		if info, _ := c.Wait(); info.Signal != syscall.SIGKILL {
			t.Errorf("leftover process: %v, want killed by Cleanup", info)
		}
	}
	if _, removed, err := again.Recover(nil); err != nil || len(removed) != 0 {
		t.Errorf("second Cleanup = %v, %v; want nothing", removed, err)
	}
}

// The v1 shim adds a pipe after the caller's ExtraFiles; the caller's files
// keep their numbers and the task must not inherit the pipe. A program that
// cannot run fails like one run by a shell (127).
func TestCgroupsShimKeepsExtraFilesAndClosesItsPipe(t *testing.T) {
	iso := newTestCgroups(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := helperCmd("fds")
	cmd.ExtraFiles = []*os.File{f}
	var out strings.Builder
	cmd.Stdout = &out
	c, err := iso.Start("fds", cmd, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := c.Wait(); err != nil || !info.Success() {
		t.Fatalf("Wait = %v, %v", info, err)
	}
	got := strings.Fields(out.String())
	if len(got) != 2 || got[0] != "3:null" || got[1] == "4:pipe" {
		t.Errorf("child's fds = %q, want fd 3 the caller's /dev/null and fd 4 not the shim's pipe", got)
	}
	c.Destroy()
}

func TestNewErrors(t *testing.T) {
	_, err := New("jails", Options{})
	if err == nil || !strings.Contains(err.Error(), "cgroups, process") {
		t.Errorf("New(jails) err = %v; want it to list the known isolators", err)
	}
	if os.Geteuid() != 0 {
		_, err := New("cgroups", Options{})
		if err == nil || !strings.Contains(err.Error(), "root") || !strings.Contains(err.Error(), "--isolation=process") {
			t.Errorf("New(cgroups) as non-root: err = %v; want it to say root is needed and suggest --isolation=process", err)
		}
	}
}
