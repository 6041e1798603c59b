package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mezzo-cluster/mezzo"
)

func TestMaxSandboxAgeIsMesossFormula(t *testing.T) {
	week := 7 * 24 * time.Hour
	for _, c := range []struct {
		usage float64
		want  time.Duration
	}{
		{0, time.Duration(0.9 * float64(week))},
		{0.5, time.Duration(0.4 * float64(week))},
		{0.9, 0},
		{0.97, 0}, // never negative
	} {
		got := maxSandboxAge(week, 0.1, c.usage)
		if d := got - c.want; d < -time.Second || d > time.Second {
			t.Errorf("usage %.2f: max age %v, want %v", c.usage, got, c.want)
		}
	}
}

// gcAgent is an agent record made by hand, with no master and no
// isolator: enough for the garbage collector, which only needs the work
// dir and the executors the agent knows.
func gcAgent(t *testing.T) *Agent {
	t.Helper()
	return &Agent{cfg: Config{WorkDir: t.TempDir(), GCDelay: 10 * time.Hour, GCDiskHeadroom: 0.1},
		log: quiet, frameworks: map[mezzo.FrameworkID]*framework{}, tasks: map[streamKey]*task{}, gc: newSandboxGC()}
}

func mkSandbox(t *testing.T, a *Agent, fw, name string) string {
	t.Helper()
	dir := filepath.Join(a.cfg.WorkDir, "sandboxes", "f-"+fw, name)
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "stdout"), []byte("output"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// As the disk fills, sandboxes go oldest first: the maximum age shrinks
// with usage and takes those ended longest ago; a sandbox that a live
// executor has is never removed, however old its record.
func TestGCRemovesOldestFirstAndNeverALiveSandbox(t *testing.T) {
	a := gcAgent(t)
	now := time.Now()
	ages := map[string]time.Duration{"e-a-1": 9 * time.Hour, "e-b-2": 5 * time.Hour, "e-c-3": time.Hour, "e-live-4": 9 * time.Hour}
	dirs := map[string]string{}
	for name, age := range ages {
		dirs[name] = mkSandbox(t, a, "fw", name)
		a.gc.schedule(dirs[name], now.Add(-age))
	}
	fw := &framework{executors: map[mezzo.ExecutorID]*executorProc{}}
	fw.executors["live"] = newExecutorProc("fw", mezzo.ExecutorInfo{ID: "live"}, true, "tok", dirs["e-live-4"])
	a.frameworks["fw"] = fw

	if got := a.gc.expired(now, 4*time.Hour); !slices.Equal(got, []string{dirs["e-a-1"], dirs["e-live-4"], dirs["e-b-2"]}) {
		t.Errorf("expired after 4h = %q, want oldest first, ties by path", got)
	}
	remaining := func() []string {
		var out []string
		for name, d := range dirs {
			if _, err := os.Stat(d); err == nil {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out
	}
	// Usage 5 %: max age 8.5 h takes the 9 h old sandbox only.
	a.collectSandboxes(now, maxSandboxAge(a.cfg.GCDelay, a.cfg.GCDiskHeadroom, 0.05))
	if got := remaining(); !slices.Equal(got, []string{"e-b-2", "e-c-3", "e-live-4"}) {
		t.Errorf("at 5%% disk usage left %v, want the 9 h old one gone", got)
	}
	// 50 %: 4 h takes the 5 h old one next.
	a.collectSandboxes(now, maxSandboxAge(a.cfg.GCDelay, a.cfg.GCDiskHeadroom, 0.5))
	if got := remaining(); !slices.Equal(got, []string{"e-c-3", "e-live-4"}) {
		t.Errorf("at 50%% disk usage left %v, want the 5 h old one gone too", got)
	}
	// 95 %: everything, except the live one.
	a.collectSandboxes(now, maxSandboxAge(a.cfg.GCDelay, a.cfg.GCDiskHeadroom, 0.95))
	if got := remaining(); !slices.Equal(got, []string{"e-live-4"}) {
		t.Errorf("at 95%% disk usage left %v, want only the live executor's sandbox", got)
	}
	// The live one ends: its sandbox is scheduled again, and goes.
	delete(fw.executors, "live")
	a.gc.schedule(dirs["e-live-4"], now.Add(-11*time.Hour))
	a.collectSandboxes(now, a.cfg.GCDelay)
	if got := remaining(); len(got) != 0 {
		t.Errorf("left %v after the last executor ended", got)
	}
	if _, err := os.Stat(filepath.Join(a.cfg.WorkDir, "sandboxes", "f-fw")); !os.IsNotExist(err) {
		t.Errorf("the framework's directory outlived its last sandbox: %v", err)
	}
}

// At start-up, the sandboxes of executors not running are scheduled by
// their directory's age, and an adopted executor's is left alone.
func TestGCSchedulesLeftoversByTheirAge(t *testing.T) {
	a := gcAgent(t)
	old, recent, adopted := mkSandbox(t, a, "fw", "e-old-1"), mkSandbox(t, a, "fw", "e-recent-2"), mkSandbox(t, a, "fw2", "e-adopted-3")
	empty := filepath.Join(a.cfg.WorkDir, "sandboxes", "f-empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-11 * time.Hour)
	for _, d := range []string{old, adopted} {
		if err := os.Chtimes(d, past, past); err != nil {
			t.Fatal(err)
		}
	}
	ex := newExecutorProc("fw2", mezzo.ExecutorInfo{ID: "adopted"}, true, "tok", adopted)
	a.frameworks["fw2"] = &framework{executors: map[mezzo.ExecutorID]*executorProc{"adopted": ex}}
	a.adopted = []*executorProc{ex}

	a.scheduleLeftoverSandboxes()
	a.collectSandboxes(time.Now(), a.cfg.GCDelay)
	for d, want := range map[string]bool{old: false, recent: true, adopted: true, empty: false} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", d, err == nil, want)
		}
	}
}

// A real agent removes an ended executor's sandbox once GCDelay has
// passed, and keeps a running one's.
func TestGCRemovesEndedSandboxes(t *testing.T) {
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	startAgent(t, m, Config{WorkDir: dir, GCDelay: 200 * time.Millisecond})
	<-m.subscribes
	m.events <- launchEvent1("fw", shellTask("quick", "cpus:0.1;mem:32", "echo done"), shellTask("long", "cpus:0.1;mem:32", "sleep 30"))
	if s := m.end(t, "quick"); s.State != mezzo.TaskFinished {
		t.Fatalf("quick: %v %q", s.State, s.Message)
	}
	waitFor(t, func() bool {
		d, _ := filepath.Glob(filepath.Join(dir, "sandboxes", "f-fw", "e-command-quick-*"))
		return len(d) == 0
	})
	time.Sleep(500 * time.Millisecond) // more than GCDelay again
	if d, _ := filepath.Glob(filepath.Join(dir, "sandboxes", "f-fw", "e-command-long-*")); len(d) != 1 {
		t.Errorf("the running task's sandbox: %v", d)
	}
}

// An executor adopted after a restart keeps its sandbox however old the
// directory looks; it goes once the executor ends.
func TestGCKeepsAnAdoptedExecutorsSandbox(t *testing.T) {
	m := startFakeMaster(t, true)
	dir, files := t.TempDir(), t.TempDir()
	t.Cleanup(func() { _ = os.WriteFile(filepath.Join(files, "keep.stop"), nil, 0o644) })
	cfg := Config{WorkDir: dir, DetachOnStop: true, GCDelay: 100 * time.Millisecond}
	_, stop := startAgent(t, m, cfg)
	<-m.subscribes
	m.events <- launchEvent1("fw", loopTask("keep", files))
	if s := m.nextUpdate(t, "keep"); s.State != mezzo.TaskRunning {
		t.Fatalf("keep: %v %q", s.State, s.Message)
	}
	stop()
	sandboxes, _ := filepath.Glob(filepath.Join(dir, "sandboxes", "f-fw", "e-command-keep-*"))
	if len(sandboxes) != 1 {
		t.Fatalf("sandboxes %v", sandboxes)
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(sandboxes[0], past, past); err != nil {
		t.Fatal(err)
	}
	startAgent(t, m, cfg)
	<-m.subscribes
	time.Sleep(time.Second) // ten times GCDelay
	if _, err := os.Stat(sandboxes[0]); err != nil {
		t.Fatalf("the adopted executor's sandbox was removed: %v", err)
	}
	touch(t, filepath.Join(files, "keep.stop"))
	if s := m.end(t, "keep"); s.State != mezzo.TaskFinished {
		t.Errorf("keep ended %v %q", s.State, s.Message)
	}
	waitFor(t, func() bool { _, err := os.Stat(sandboxes[0]); return os.IsNotExist(err) })
}

// A sandbox whose removal fails (here a file system mounted inside it) is
// not given up: it is tried again, not before its retry is due, and
// removed once it can be.
func TestGCRetriesASandboxItCouldNotRemove(t *testing.T) {
	a := gcAgent(t)
	a.cfg.DiskWatchInterval = time.Minute
	dir := mkSandbox(t, a, "fw", "e-stuck-1")
	mnt := filepath.Join(dir, "mnt")
	mountTmpfs(t, mnt, 64<<10)
	now := time.Now()
	a.gc.schedule(dir, now.Add(-11*time.Hour))

	a.collectSandboxes(now, a.cfg.GCDelay)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the sandbox with a mount inside: %v; want it still there", err)
	}
	if got := a.gc.expired(now.Add(time.Second), a.cfg.GCDelay); len(got) != 0 {
		t.Errorf("expired a second later: %q; want the retry not due yet", got)
	}
	if due, ok := a.gc.nextDue(a.cfg.GCDelay); !ok || due.Before(now.Add(time.Minute)) {
		t.Errorf("next due %v (%v); want the retry, a minute on", due, ok)
	}

	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	a.collectSandboxes(now.Add(time.Minute), a.cfg.GCDelay)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after the mount went, the sandbox is still there (%v)", err)
	}
	if _, ok := a.gc.nextDue(a.cfg.GCDelay); ok {
		t.Error("the removed sandbox is still scheduled")
	}
}
