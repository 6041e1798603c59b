package sweep

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo/sim/runspec"
	"github.com/mezzo-cluster/mezzo/workloads/hadoop"
)

// small is the tests' sweep: 2 policies × 2 seeds on 20 agents over a
// tiny synthetic trace.
func small(tb testing.TB, out string, workers int) (Config, *counter) {
	tb.Helper()
	c := &counter{}
	return Config{
		Axes: Axes{Traces: []string{"synthetic:fb"}, Jobs: []int{6}, Policies: []string{"drf", "tetris"}, Agents: []int{20},
			Delays: []time.Duration{runspec.DefaultDelay}, Sharings: []hadoop.Sharing{hadoop.FIFO}, Seeds: []uint64{1, 2}},
		Out:     out,
		Workers: workers,
		Started: c.start,
	}, c
}

// counter records the runs a sweep started.
type counter struct {
	mu   sync.Mutex
	runs []string
}

func (c *counter) start(p Point) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs = append(c.runs, p.String())
}

func (c *counter) started() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.runs...)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestSmallSweepWritesOneRowPerRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.csv")
	cfg, c := small(t, out, 2)
	var progress [][2]int
	cfg.Progress = func(done, total int) { progress = append(progress, [2]int{done, total}) }
	st, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Planned != 4 || st.Ran != 4 || st.Skipped != 0 || !st.Sorted || len(c.started()) != 4 {
		t.Errorf("stats %+v, %d started; want 4 planned and run, sorted", st, len(c.started()))
	}
	if last := progress[len(progress)-1]; len(progress) != 5 || last != [2]int{4, 4} {
		t.Errorf("progress calls %v, want 0..4 of 4", progress)
	}
	lines := readLines(t, out)
	if len(lines) != 5 {
		t.Fatalf("%d lines, want a header and 4 rows:\n%s", len(lines), strings.Join(lines, ""))
	}
	if want := strings.Join(Header([]string{"hadoop"}), ",") + "\n"; lines[0] != want {
		t.Errorf("header %q, want %q", lines[0], want)
	}
	wantKeys := []string{"drf,20,5s,fifo,1,ok,", "drf,20,5s,fifo,2,ok,", "tetris,20,5s,fifo,1,ok,", "tetris,20,5s,fifo,2,ok,"}
	for i, l := range lines[1:] {
		if !strings.HasPrefix(l, "synthetic:fb,6,"+wantKeys[i]) {
			t.Errorf("row %d = %q, want run %s in plan order, ok", i+1, l, wantKeys[i])
		}
		if n := strings.Count(l, ","); n != len(lines[0])-len(strings.ReplaceAll(lines[0], ",", "")) {
			t.Errorf("row %d has %d commas, header %d", i+1, n, strings.Count(lines[0], ","))
		}
	}
	// A finished sweep run again does nothing.
	cfg2, c2 := small(t, out, 2)
	st, err = Run(context.Background(), cfg2)
	if err != nil || st.Skipped != 4 || st.Ran != 0 || len(c2.started()) != 0 {
		t.Errorf("second run: %+v, %v, started %v; want all 4 skipped", st, err, c2.started())
	}
}

func TestWorkerCountDoesNotChangeTheFile(t *testing.T) {
	dir := t.TempDir()
	var files [][]byte
	for _, w := range []int{1, 2} {
		out := filepath.Join(dir, "w"+string(rune('0'+w))+".csv")
		cfg, _ := small(t, out, w)
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Errorf("1 and 2 workers wrote different files:\n%s\n---\n%s", files[0], files[1])
	}
}

// An interrupted sweep (context cancelled once two runs are written)
// leaves complete rows only; the rerun does exactly the missing runs and
// ends with the same file as an uninterrupted sweep.
func TestResumeAfterCancelRedoesNothing(t *testing.T) {
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.csv")
	cfg, _ := small(t, ref, 1)
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "s.csv")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, first := small(t, out, 1)
	cfg.Progress = func(done, _ int) {
		if done == 2 {
			cancel()
		}
	}
	st, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted sweep returned %v, want context.Canceled", err)
	}
	// The worker may have taken a third run before the cancel: it is
	// finished and written, never dropped.
	if st.Ran < 2 || st.Ran > 3 || st.Ran != len(first.started()) || st.Sorted {
		t.Fatalf("interrupted sweep: %+v, %d started", st, len(first.started()))
	}
	if rows := len(readLines(t, out)) - 1; rows != st.Ran {
		t.Errorf("%d rows written, %d runs done", rows, st.Ran)
	}

	cfg, second := small(t, out, 2)
	st2, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Skipped != st.Ran || st2.Ran != 4-st.Ran || len(second.started()) != 4-st.Ran {
		t.Errorf("resume: %+v, started %v; want the %d missing runs only", st2, second.started(), 4-st.Ran)
	}
	for _, r := range second.started() {
		for _, f := range first.started() {
			if r == f {
				t.Errorf("run %s done twice", r)
			}
		}
	}
	sameFile(t, ref, out)
}

func sameFile(t *testing.T, want, got string) {
	t.Helper()
	a, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s:\n%s\n---\n%s", got, want, b, a)
	}
}

// A crash mid-write leaves a last line cut short: resuming drops it and
// redoes that one run.
func TestResumeDropsATornLastLine(t *testing.T) {
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.csv")
	cfg, _ := small(t, ref, 2)
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	whole, _ := os.ReadFile(ref)
	lines := readLines(t, ref)
	last := lines[len(lines)-1]
	for _, tail := range []string{last[:len(last)/2], "synthetic:fb,6,drf\n", "\x00\x00\x00"} {
		out := filepath.Join(dir, "torn.csv")
		torn := strings.Join(lines[:len(lines)-1], "") + tail
		if err := os.WriteFile(out, []byte(torn), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, c := small(t, out, 2)
		st, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("tail %q: %v", tail, err)
		}
		if st.Ran != 1 || st.Skipped != 3 || st.Discarded != len(tail) || len(c.started()) != 1 {
			t.Errorf("tail %q: %+v, started %v; want the torn run redone, %d bytes dropped", tail, st, c.started(), len(tail))
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, whole) {
			t.Errorf("tail %q: file after resume differs from an uninterrupted sweep:\n%s", tail, got)
		}
	}
}

func TestResumeRefusesAForeignFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "s.csv")
	cfg, _ := small(t, out, 2)
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	// Other frameworks: another header.
	cfg, c := small(t, out, 2)
	cfg.Base.Frameworks = []string{"hadoop", "hadoop"}
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "s.csv:1: header") || len(c.started()) != 0 {
		t.Errorf("other frameworks: %v, started %v; want a header error naming the file, no run", err, c.started())
	}
	// A broken line before the last one is not a torn write.
	lines := readLines(t, out)
	lines[2] = "garbage\n"
	if err := os.WriteFile(out, []byte(strings.Join(lines, "")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _ = small(t, out, 2)
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "s.csv:3:") {
		t.Errorf("malformed line 3: %v, want an error naming s.csv:3", err)
	}
}

// Rows of runs outside the plan are kept; new values run, old ones don't.
func TestExtendingAnAxisRunsOnlyTheNewValues(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.csv")
	cfg, _ := small(t, out, 2)
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	cfg, c := small(t, out, 2)
	cfg.Axes.Seeds = []uint64{2, 3}
	st, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := c.started()
	sort.Strings(got)
	if st.Ran != 2 || st.Skipped != 2 || len(got) != 2 || !strings.HasSuffix(got[0], "seed 3") || !strings.HasSuffix(got[1], "seed 3") {
		t.Errorf("%+v, started %v; want only the seed-3 runs", st, got)
	}
	if rows := len(readLines(t, out)) - 1; rows != 6 {
		t.Errorf("%d rows, want 6 (seeds 1..3 × 2 policies)", rows)
	}
}

func TestBadValuesFailBeforeAnyRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.csv")
	cfg, c := small(t, out, 2)
	cfg.Axes.Policies = []string{"drf", "mine"}
	cfg.Axes.Agents = []int{20, -5}
	cfg.Axes.Delays = []time.Duration{-time.Second}
	cfg.Axes.Traces = []string{"synthetic:fb", "testdata/bad.tsv", "testdata/missing.tsv"}
	cfg.Base.Frameworks = []string{"hadoop", "yarn"}
	_, err := Run(context.Background(), cfg)
	if err == nil {
		t.Fatal("sweep with bad values ran")
	}
	for _, want := range []string{`unknown policy "mine"`, "agents -5", "delay -1s", `unknown framework "yarn"`, "bad.tsv:2", "missing.tsv"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if len(c.started()) != 0 {
		t.Errorf("runs started: %v", c.started())
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output created by a sweep that could not start: %v", err)
	}
}

// A file trace is read once and its runs, with two hadoops, fill both
// frameworks' columns.
func TestFileTraceAndTwoFrameworks(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.csv")
	cfg, _ := small(t, out, 2)
	cfg.Axes.Traces = []string{"testdata/tiny.tsv"}
	cfg.Axes.Policies = []string{"drf"}
	cfg.Base.Frameworks = []string{"hadoop", "hadoop"}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, out)
	header := strings.Split(strings.TrimSpace(lines[0]), ",")
	col := func(name string) int {
		for i, h := range header {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s in %v", name, header)
		return -1
	}
	for _, l := range lines[1:] {
		rec := strings.Split(strings.TrimSpace(l), ",")
		if rec[col("status")] != StatusOK || rec[col("jobs_total")] != "6" || rec[col("hadoop.jobs")] != "3" || rec[col("hadoop-2.jobs")] != "3" || rec[col("hadoop-2.done")] != "3" {
			t.Errorf("row %q: want ok, 6 jobs, 3 done by each hadoop", l)
		}
	}
}
