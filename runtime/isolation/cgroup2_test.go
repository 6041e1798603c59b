package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// On a hybrid host the unified (v2) hierarchy is mounted too, without cpu or
// memory controllers. That is enough to test the v2 code that does not
// depend on limits: creating the process directly in its cgroup (clone3),
// cgroup.kill, Destroy and Cleanup. Unified hosts run every cgroups test
// against v2 with limits anyway.
func newTestV2(t *testing.T) *cgroupsIsolator {
	t.Helper()
	requireRoot(t)
	mount := unifiedMount
	var st unix.Statfs_t
	if err := unix.Statfs(mount, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		mount = filepath.Join(unifiedMount, "unified")
		if err := unix.Statfs(mount, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Skip("no cgroup v2 hierarchy mounted")
		}
	}
	parent := fmt.Sprintf("/mezzo-test-%d-%s", os.Getpid(), t.Name())
	h, err := newV2(mount, parent, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeParent(t, h) })
	return &cgroupsIsolator{h: h}
}

func TestV2ProcessStartsInsideItsCgroup(t *testing.T) {
	iso := newTestV2(t)
	for _, clone3 := range []bool{true, false} {
		if clone3 && !kernelAtLeast(5, 7) {
			continue
		}
		iso.h.(*v2Hierarchy).clone3 = clone3
		id := fmt.Sprintf("clone3-%v", clone3)
		cmd := helperCmd("cgroup")
		var out strings.Builder
		cmd.Stdout = &out
		c, err := iso.Start(id, cmd, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if info, err := c.Wait(); err != nil || !info.Success() {
			t.Fatalf("Wait = %v, %v", info, err)
		}
		want := "0::" + filepath.Join(iso.h.(*v2Hierarchy).parent, id)
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("clone3=%v: child's /proc/self/cgroup\n%s\nlacks %q", clone3, out.String(), want)
		}
		if err := c.Destroy(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := iso.Start("limited", helperCmd("exit", "0"), Limits{CPUs: 1}); err == nil {
		t.Error("limits without controllers: no error")
	}
}

func TestV2KillDestroyAndCleanup(t *testing.T) {
	iso := newTestV2(t)
	cmd := helperCmd("tree")
	out, _ := cmd.StdoutPipe()
	c, err := iso.Start("tree", cmd, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	readLine(t, out)
	leftover := helperCmd("sleep")
	lout, _ := leftover.StdoutPipe()
	left, err := iso.Start("leftover", leftover, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	readLine(t, lout)

	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if info, _ := c.Wait(); info.Signal != syscall.SIGKILL {
		t.Errorf("Wait after Kill = %v", info)
	}
	dir := containerDirs(t, iso.h, "tree")[0]
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if exists(dir) {
		t.Errorf("%s exists after Destroy", dir)
	}
	_, removed, err := iso.Recover(nil)
	if err != nil || len(removed) != 1 || removed[0] != "leftover" {
		t.Errorf("Cleanup = %v, %v; want [leftover]", removed, err)
	}
	if info, _ := left.Wait(); info.Signal != syscall.SIGKILL {
		t.Errorf("leftover process: %v, want killed by Cleanup", info)
	}
}
