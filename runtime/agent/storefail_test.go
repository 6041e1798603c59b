package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mezzo-cluster/mezzo"
)

// mountTmpfs mounts a tmpfs of size bytes at dir (created) until the test
// ends; it skips without root.
func mountTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system needs root")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
}

// fill writes to dir/filler until the file system is full, and returns a
// function that frees the space again.
func fill(t *testing.T, dir string) (free func()) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	return func() { _ = os.Remove(p) }
}

// An update the disk refuses is still queued and sent, the caller hears
// why it is not stored, and it is stored once space comes back.
func TestUpdateRefusedByAFullDiskIsKeptAndStoredLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "status")
	mountTmpfs(t, dir, 64<<10)
	s := newStatusStore(dir, quiet, 10*time.Millisecond, 20*time.Millisecond)
	now := time.Now()
	run := mezzo.TaskStatus{TaskID: "t", State: mezzo.TaskRunning, UUID: "u-run"}
	if _, err := s.appendUpdate("fw", run, now); err != nil {
		t.Fatal(err)
	}
	file := s.path(streamKey{"fw", "t"})
	before, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	free := fill(t, dir)
	// More than the page the file has: the disk must give another.
	fin := mezzo.TaskStatus{TaskID: "t", State: mezzo.TaskFinished, UUID: "u-fin", Message: strings.Repeat("x", 8<<10)}
	added, err := s.appendUpdate("fw", fin, now)
	var ns *notStoredError
	if !added || !errors.As(err, &ns) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), s.path(streamKey{"fw", "t"})) {
		t.Fatalf("appending to a full disk: added %v, err %v; want it queued and ENOSPC naming the file", added, err)
	}
	if after, err := os.Stat(file); err != nil || after.Size() != before.Size() {
		t.Errorf("after a refused write the file is %v bytes (%v), want the %d it held: no torn record left", after.Size(), err, before.Size())
	}
	if p := s.pending("fw", "t"); len(p) != 2 || p[1].UUID != "u-fin" {
		t.Fatalf("pending %v, want RUNNING and FINISHED", p)
	}
	// A retry of the same update says it is still not stored.
	if _, err := s.appendUpdate("fw", fin, now); !errors.As(err, &ns) {
		t.Errorf("retry on a full disk: %v, want not stored", err)
	}
	if n := s.unstoredCount(); n != 1 {
		t.Errorf("unstored %d, want 1", n)
	}
	if next := s.retryStores(now.Add(time.Hour)); next.IsZero() || s.unstoredCount() != 1 {
		t.Errorf("retry with the disk still full: next %v, unstored %d", next, s.unstoredCount())
	}

	free()
	if next := s.retryStores(now.Add(2 * time.Hour)); !next.IsZero() || s.unstoredCount() != 0 {
		t.Fatalf("retry with space back: next %v, unstored %d", next, s.unstoredCount())
	}
	if _, err := s.appendUpdate("fw", fin, now); err != nil {
		t.Errorf("retry once stored: %v", err)
	}
	again := newStatusStore(dir, quiet, time.Second, time.Second)
	latest := again.load()
	if l := latest[streamKey{"fw", "t"}]; l.UUID != "u-fin" || len(again.pending("fw", "t")) != 2 {
		t.Errorf("reloaded: latest %+v, pending %v", l, again.pending("fw", "t"))
	}
}

// A running task whose update cannot be stored is killed and reported
// TASK_FAILED for the disk, from memory; the executor's own report of the
// kill is dropped (one terminal state), and the agent stores what it holds
// once space comes back.
func TestTaskWhoseUpdateCannotBeStoredFails(t *testing.T) {
	dir := t.TempDir()
	status := filepath.Join(dir, "status")
	mountTmpfs(t, status, 64<<10)
	m := startFakeMaster(t, false)
	a, _ := startAgent(t, m, Config{WorkDir: dir, StatusRetry: 20 * time.Millisecond, StatusRetryMax: 50 * time.Millisecond})
	<-m.subscribes
	free := fill(t, status)
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: "sleepy", Resources: mezzo.MustParseResources("cpus:0.1;mem:32"),
		Command: &mezzo.CommandInfo{Value: "sleep 60", Shell: true}})
	run := m.nextUpdate(t, "sleepy")
	if run.State != mezzo.TaskRunning {
		t.Fatalf("first update %v %q, want the unstored RUNNING sent", run.State, run.Message)
	}
	m.events <- ackEvent("fw", run)
	s := m.nextUpdate(t, "sleepy")
	if s.State != mezzo.TaskFailed || s.Reason != mezzo.ReasonDiskLimit || !strings.Contains(s.Message, "no space left on device") ||
		!strings.Contains(s.Message, status) {
		t.Fatalf("then %v %s %q; want TASK_FAILED for the disk, naming the error and the file", s.State, s.Reason, s.Message)
	}
	select {
	case <-m.exits: // the executor is gone: it reports nothing more
	case <-time.After(15 * time.Second):
		t.Fatal("the task's executor was not killed")
	}
	for len(m.updates) > 0 {
		if u := <-m.updates; u.status.UUID != s.UUID && u.status.UUID != run.UUID {
			t.Errorf("another update after TASK_FAILED: %v %q", u.status.State, u.status.Message)
		}
	}
	free()
	waitFor(t, func() bool { return a.store.unstoredCount() == 0 })
	if p := a.store.pending("fw", "sleepy"); len(p) != 1 || p[0].UUID != s.UUID {
		t.Errorf("pending %v, want the FAILED", p)
	}
}

// With few descriptors, many tasks' streams still store (none holds a
// descriptor between writes), and one refused for want of a descriptor
// is kept and stored once descriptors are back. It runs in a child
// process, whose RLIMIT_NOFILE it lowers.
func TestStatusStoreUnderADescriptorLimit(t *testing.T) {
	if os.Getenv("MEZZO_TEST_NOFILE_CHILD") == "1" {
		statusStoreUnderADescriptorLimit(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStatusStoreUnderADescriptorLimit$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "MEZZO_TEST_NOFILE_CHILD=1", "MEZZO_TEST_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func statusStoreUnderADescriptorLimit(t *testing.T) {
	const limit = 48
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	s := newStatusStore(os.Getenv("MEZZO_TEST_DIR"), quiet, time.Millisecond, time.Millisecond)
	now := time.Now()
	for i := range 5 * limit {
		u := mezzo.TaskStatus{TaskID: mezzo.TaskID(fmt.Sprintf("t%d", i)), State: mezzo.TaskRunning, UUID: fmt.Sprint(i)}
		if _, err := s.appendUpdate("fw", u, now); err != nil {
			t.Fatalf("stream %d of %d with %d descriptors: %v", i+1, 5*limit, limit, err)
		}
	}
	var hogs []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		hogs = append(hogs, f)
	}
	fin := mezzo.TaskStatus{TaskID: "t0", State: mezzo.TaskFinished, UUID: "fin"}
	if _, err := s.appendUpdate("fw", fin, now); !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("with no descriptor left: %v, want EMFILE", err)
	}
	if p := s.pending("fw", "t0"); len(p) != 2 {
		t.Fatalf("pending %v, want the refused update queued", p)
	}
	for _, f := range hogs {
		f.Close()
	}
	if s.retryStores(now.Add(time.Hour)); s.unstoredCount() != 0 {
		t.Fatal("not stored once descriptors are back")
	}
}

// An emulated task whose TASK_RUNNING cannot be stored is failed, and its
// timer, which would report TASK_FINISHED, never starts.
func TestEmulatedTaskWhoseUpdateCannotBeStoredFails(t *testing.T) {
	dir := t.TempDir()
	status := filepath.Join(dir, "status")
	mountTmpfs(t, status, 64<<10)
	m := startFakeMaster(t, false)
	a, _ := startAgent(t, m, Config{Emulated: true, WorkDir: dir})
	<-m.subscribes
	defer fill(t, status)()
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: "e", Duration: time.Millisecond})
	run := m.nextUpdate(t, "e")
	if run.State != mezzo.TaskRunning {
		t.Fatalf("first update %v", run.State)
	}
	m.events <- ackEvent("fw", run)
	if s := m.nextUpdate(t, "e"); s.State != mezzo.TaskFailed || s.Reason != mezzo.ReasonDiskLimit {
		t.Fatalf("then %v %s %q, want TASK_FAILED for the disk", s.State, s.Reason, s.Message)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if tk := a.tasks[streamKey{"fw", "e"}]; tk == nil || tk.timer != nil {
		t.Errorf("task %+v: want it kept (FAILED unacknowledged) with no timer, which would report TASK_FINISHED too", tk)
	}
}
