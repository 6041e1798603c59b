package isolation

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitWithin fails the test if c.Wait does not return within d.
func waitWithin(t *testing.T, c Container, d time.Duration) ExitInfo {
	t.Helper()
	type res struct {
		info ExitInfo
		err  error
	}
	ch := make(chan res, 1)
	go func() { info, err := c.Wait(); ch <- res{info, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Errorf("Wait: %v", r.err)
		}
		return r.info
	case <-time.After(d):
		t.Fatalf("Wait did not return within %v", d)
		return ExitInfo{}
	}
}

// startSleeper starts a helper that sleeps in container id of iso and
// returns the container and its handle, as an agent would checkpoint them.
func startSleeper(t *testing.T, iso Isolator, id string) (Container, Handle) {
	t.Helper()
	cmd := helperCmd("sleep")
	out, _ := cmd.StdoutPipe()
	c, err := iso.Start(id, cmd, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	readLine(t, out)
	h, err := HandleOf(id, cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Destroy() })
	return c, h
}

func TestHandleOfAndProcStat(t *testing.T) {
	h, err := HandleOf("self", os.Getpid())
	if err != nil || h.StartTime == 0 || !running(h) {
		t.Fatalf("HandleOf(self) = %+v, %v; running %v", h, err, running(h))
	}
	if running(Handle{ID: "x", Pid: os.Getpid(), StartTime: h.StartTime + 1}) {
		t.Error("a handle with another start time (a reused pid) counts as running")
	}
	if _, err := HandleOf("gone", 1<<30); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("HandleOf(no such pid) err = %v, want 'gone'", err)
	}
}

// A new process isolator (a restarted agent) adopts a live process by its
// handle, refuses a handle whose pid was reused, and can kill and wait for
// what it adopted.
func TestProcessIsolatorAdoptsByHandle(t *testing.T) {
	old, _ := New("process", Options{})
	_, live := startSleeper(t, old, "live")
	_, killed := startSleeper(t, old, "killed")
	_, exits := startSleeper(t, old, "exits")
	reused := live
	reused.ID, reused.StartTime = "reused", live.StartTime-1

	iso, _ := New("process", Options{})
	adopted, removed, err := iso.Recover([]Handle{live, killed, exits, reused,
		{ID: "dead", Pid: 1 << 30, StartTime: 1}})
	if err != nil || len(removed) != 0 {
		t.Fatalf("Recover: removed %v, err %v", removed, err)
	}
	keys := make([]string, 0, len(adopted))
	for id := range adopted {
		keys = append(keys, id)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"exits", "killed", "live"}) {
		t.Fatalf("adopted %v, want [exits killed live]", keys)
	}

	// Killed through the adopted container.
	if err := adopted["killed"].Kill(); err != nil {
		t.Fatal(err)
	}
	if info := waitWithin(t, adopted["killed"], 10*time.Second); !info.Unknown || info.Success() {
		t.Errorf("Wait of a killed adopted container = %+v, want an unknown status", info)
	}
	// Ended from outside: Wait notices without being its parent.
	if err := syscall.Kill(exits.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	info := waitWithin(t, adopted["exits"], 10*time.Second)
	if !info.Unknown || !strings.Contains(info.String(), "unknown") {
		t.Errorf("Wait = %+v (%q), want an unknown status", info, info)
	}
	// Still running until killed, then Destroy leaves nothing.
	select {
	case <-adopted["live"].(*processContainer).done:
		t.Fatal("the live adopted container reports an end")
	default:
	}
	if err := adopted["live"].Destroy(); err != nil {
		t.Fatal(err)
	}
	waitWithin(t, adopted["live"], 10*time.Second)
	if running(live) {
		t.Error("adopted process survived Destroy")
	}
	for _, c := range adopted {
		if err := c.Destroy(); err != nil {
			t.Errorf("Destroy after the end: %v", err)
		}
	}
}

// A new cgroups isolator on the same parent adopts the known container that
// still runs, removes the one it does not know and the known one that has
// ended, and observes the adopted one's end through its cgroup.
func testCgroupsAdopt(t *testing.T, old, iso *cgroupsIsolator) {
	_, known := startSleeper(t, old, "known")
	_, orphan := startSleeper(t, old, "orphan")
	ended, endedH := startSleeper(t, old, "ended")
	if err := ended.Kill(); err != nil {
		t.Fatal(err)
	}
	waitWithin(t, ended, 10*time.Second)

	// A known container whose started process is gone but whose child
	// lingers: nothing to reconnect to, so it is removed.
	tree := helperCmd("tree")
	out, _ := tree.StdoutPipe()
	if _, err := old.Start("straggler", tree, Limits{}); err != nil {
		t.Fatal(err)
	}
	var child int
	if _, err := fmt.Sscanf(readLine(t, out), "%d", &child); err != nil {
		t.Fatal(err)
	}
	strH, err := HandleOf("straggler", tree.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(strH.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); running(strH); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("straggler's started process not gone after SIGKILL")
		}
	}

	adopted, removed, err := iso.Recover([]Handle{known, endedH, strH})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []string{"ended", "orphan", "straggler"}) {
		t.Errorf("removed %v, want [ended orphan straggler]", removed)
	}
	if Alive(child) {
		t.Errorf("the straggler's child %d survived Recover", child)
	}
	if running(orphan) {
		t.Error("the orphan container's process survived Recover")
	}
	c := adopted["known"]
	if len(adopted) != 1 || c == nil {
		t.Fatalf("adopted %v, want [known]", adopted)
	}
	if err := c.Update(Limits{}); err != nil {
		t.Errorf("Update of an adopted container: %v", err)
	}
	// The process dies without the adopter's doing (as a task's executor
	// may): Wait sees the cgroup empty.
	if err := syscall.Kill(known.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if info := waitWithin(t, c, 10*time.Second); !info.Unknown || info.OOMKilled {
		t.Errorf("Wait = %+v, want unknown status, no OOM kill", info)
	}
	dirs := containerDirs(t, iso.h, "known")
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if exists(d) {
			t.Errorf("cgroup %s still exists after Destroy", d)
		}
	}
}

func TestCgroupsAdoptLiveContainer(t *testing.T) {
	old := newTestCgroups(t)
	iso, err := newCgroups(Options{Parent: fmt.Sprintf("mezzo-test-%d-%s", os.Getpid(), t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	testCgroupsAdopt(t, old, iso)
}

func TestV2AdoptLiveContainer(t *testing.T) {
	old := newTestV2(t)
	testCgroupsAdopt(t, old, &cgroupsIsolator{h: old.h})
}

// Kill of an adopted cgroup container reaches every process in it.
func TestCgroupsAdoptedKill(t *testing.T) {
	old := newTestCgroups(t)
	_, h := startSleeper(t, old, "victim")
	adopted, _, err := (&cgroupsIsolator{h: old.h}).Recover([]Handle{h})
	if err != nil || adopted["victim"] == nil {
		t.Fatalf("Recover = %v, %v", adopted, err)
	}
	if err := adopted["victim"].Kill(); err != nil {
		t.Fatal(err)
	}
	if info := waitWithin(t, adopted["victim"], 10*time.Second); !info.Unknown {
		t.Errorf("Wait = %+v", info)
	}
	if running(h) {
		t.Error("process survived Kill of the adopted container")
	}
	_ = adopted["victim"].Destroy()
}
