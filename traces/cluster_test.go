package traces_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mezzo-cluster/mezzo/traces"
)

func readCluster(t *testing.T, src traces.ClusterSource) []traces.ClusterJob {
	t.Helper()
	var out []traces.ClusterJob
	for {
		j, err := src.NextCluster()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
}

func openSample(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// The sample's answers, worked out from its lines (times relative to the
// first event at 600 s; 1.0 = 8 CPUs, 30,720 MB):
//   - job 100: task 0 runs 601..611 s (10 s); task 1 runs 602..612, is
//     evicted, resubmitted, and runs 613..633 (its last run, 20 s).
//   - job 200: submitted at 1.5 s, runs 603..620 (17 s); complete before
//     job 100 but emitted after it, in order of first event.
//   - job 300 is killed before it runs: skipped.
//   - job 999's finish belongs to no known job: ignored.
//   - job 400 still runs at the last event (700 s), which raised its CPU
//     request to 0.5: cut at 700 s, 59 s.
func TestGoogleSample(t *testing.T) {
	r, err := traces.NewGoogleReader(openSample(t, "google_task_events.csv"), "google.csv", traces.ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := readCluster(t, r)
	want := []traces.ClusterJob{
		{ID: "100", Submit: 0, Tasks: []traces.ClusterTask{
			{Index: 0, CPUs: 1, MemMB: 1920, Duration: 10 * time.Second},
			{Index: 1, CPUs: 1, MemMB: 1920, Duration: 20 * time.Second},
		}},
		{ID: "200", Submit: 1500 * time.Millisecond, Tasks: []traces.ClusterTask{{Index: 0, CPUs: 2, MemMB: 15360, Duration: 17 * time.Second}}},
		{ID: "400", Submit: 40 * time.Second, Tasks: []traces.ClusterTask{{Index: 0, CPUs: 4, MemMB: 7680, Duration: 59 * time.Second}}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("jobs (-want +got):\n%s", d)
	}
	if r.Skipped() != 1 {
		t.Errorf("skipped %d jobs, want 1 (job 300)", r.Skipped())
	}
	if j := got[0].Job(); j.Maps != 2 || j.Reduces != 0 || j.MapDuration != 15*time.Second {
		t.Errorf("flattened job 100 = %+v, want 2 maps of 15 s", j)
	}
}

// With a 15 s horizon, job 100 is cut at the event at 20 s: task 1 has run
// 7 s of its second run; its finish at 33 s is then ignored.
func TestGoogleHorizon(t *testing.T) {
	r, err := traces.NewGoogleReader(openSample(t, "google_task_events.csv"), "google.csv", traces.ClusterOptions{Horizon: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := readCluster(t, r)
	if len(got) != 3 || got[0].ID != "100" || got[1].ID != "200" || got[2].ID != "400" {
		t.Fatalf("jobs %v, want 100, 200, 400", got)
	}
	if d := got[0].Tasks[1].Duration; d != 7*time.Second {
		t.Errorf("job 100 task 1 cut after %v, want 7s", d)
	}
}

func TestAlibabaSample(t *testing.T) {
	r, err := traces.NewAlibabaReader(openSample(t, "alibaba_batch_task.csv"), "ali.csv", traces.ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := readCluster(t, r)
	// plan_mem 0.5 of 98,304 MB is 491.52 MB; 1.0 is 983.04; 0.25 is 245.76.
	m1 := traces.ClusterTask{CPUs: 1, MemMB: 491.52, Duration: 60 * time.Second}
	m2 := m1
	m2.Index = 1
	want := []traces.ClusterJob{
		{ID: "j_1", Submit: 0, Tasks: []traces.ClusterTask{m1, m2, {Index: 2, CPUs: 2, MemMB: 983.04, Duration: 30 * time.Second}}},
		{ID: "j_2", Submit: 80 * time.Second, Tasks: []traces.ClusterTask{
			{Index: 0, CPUs: 0.5, MemMB: 245.76, Duration: 10 * time.Second},
			{Index: 1, CPUs: 0.5, MemMB: 245.76, Duration: 10 * time.Second},
			{Index: 2, CPUs: 0.5, MemMB: 245.76, Duration: 10 * time.Second},
		}},
		// More than 6 h after j_1 began: a new job of the same name.
		{ID: "j_1", Submit: 23600 * time.Second, Tasks: []traces.ClusterTask{{Index: 0, CPUs: 1, MemMB: 491.52, Duration: 10 * time.Second}}},
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); d != "" {
		t.Errorf("jobs (-want +got):\n%s", d)
	}
	if r.Skipped() != 2 {
		t.Errorf("skipped %d rows, want 2 (waiting j_3, running j_4)", r.Skipped())
	}
}

func TestClusterMalformed(t *testing.T) {
	g := "600000000,,1,0,,0,u,0,0,0.1,0.1,,0\n"
	a := "M1,1,j_1,1,Terminated,100,110,100,0.5\n"
	for _, tc := range []struct {
		name, kind, input, want string
		line                    int
	}{
		{"fields", "google", g + "1,2,3\n", "want 13 comma-separated fields", 2},
		{"time", "google", "x,,1,0,,0,u,0,0,0.1,0.1,,0\n", `time "x" is not an integer`, 1},
		{"backwards", "google", g + "500000000,,1,0,,1,u,0,0,0.1,0.1,,0\n", "goes backwards", 2},
		{"event", "google", g + "600000001,,1,0,,9,u,0,0,0.1,0.1,,0\n", "event type 9", 2},
		{"cpu", "google", "600000000,,1,0,,0,u,0,0,lots,0.1,,0\n", `CPU request "lots"`, 1},
		{"job", "google", "600000000,,j1,0,,0,u,0,0,0.1,0.1,,0\n", `job ID "j1"`, 1},
		{"ali-fields", "alibaba", a + "M1,1,j_1\n", "want 9 comma-separated fields", 2},
		{"ali-header", "alibaba", "task_name,instance_num,job_name,task_type,status,start_time,end_time,plan_cpu,plan_mem\n", `instance_num "instance_num" is not an integer`, 1},
		{"ali-unsorted", "alibaba", a + "M1,1,j_2,1,Terminated,50,60,100,0.5\n", "sort the file by start time", 2},
		{"ali-mem", "alibaba", "M1,1,j_1,1,Terminated,100,110,100,-1\n", `plan_mem "-1"`, 1},
		{"ali-job", "alibaba", "M1,1,,1,Terminated,100,110,100,1\n", "empty job_name", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := drain(t, tc.kind, tc.input)
			var pe *traces.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *ParseError", err)
			}
			if pe.File != "in.csv" || pe.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want in.csv:%d saying %q", err, tc.line, tc.want)
			}
		})
	}
}

func TestClusterEmptyIsErrEmptyTrace(t *testing.T) {
	for _, tc := range []struct{ kind, input string }{
		{"google", ""},
		{"google", "600000000,,1,0,,0,u,0,0,0.1,0.1,,0\n600000001,,1,0,,5,u,0,0,,,,0\n"}, // never ran
		{"alibaba", "M1,1,j_1,1,Waiting,0,0,100,0.5\n"},
	} {
		if err := drain(t, tc.kind, tc.input); !errors.Is(err, traces.ErrEmptyTrace) {
			t.Errorf("%s %q: error %v, want ErrEmptyTrace", tc.kind, tc.input, err)
		}
	}
}

// drain reads everything and returns the final error (nil at EOF).
func drain(t *testing.T, kind, input string) error {
	t.Helper()
	var src traces.ClusterSource
	var err error
	if kind == "google" {
		src, err = traces.NewGoogleReader(strings.NewReader(input), "in.csv", traces.ClusterOptions{})
	} else {
		src, err = traces.NewAlibabaReader(strings.NewReader(input), "in.csv", traces.ClusterOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err := src.NextCluster()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestOpenClusterSpecs(t *testing.T) {
	for _, spec := range []string{"google:testdata/google_task_events.csv", "alibaba:testdata/alibaba_batch_task.csv"} {
		src, c, err := traces.Open(spec, traces.Options{})
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		jobs, err := traces.ReadAll(src)
		c.Close()
		if err != nil || len(jobs) != 3 {
			t.Errorf("%s: %d jobs, err %v; want 3", spec, len(jobs), err)
		}
	}
	if _, _, err := traces.Open("google:", traces.Options{}); err == nil || !strings.Contains(err.Error(), "names no file") {
		t.Errorf("google: with no path: %v", err)
	}
	if _, _, err := traces.Open("alibaba:testdata/nope.csv", traces.Options{}); err == nil || !strings.Contains(err.Error(), "nope.csv") {
		t.Errorf("missing file: %v", err)
	}
}

// countingReader generates n single-task Google jobs on the fly and counts
// the bytes handed out, to show the reader streams.
type countingReader struct {
	n, i int
	buf  []byte
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	for len(c.buf) < len(p) && c.i < c.n {
		ts := int64(600e6) + int64(c.i)*1e6
		c.buf = append(c.buf, []byte(
			itoa(ts)+",,"+itoa(int64(c.i))+",0,,1,u,0,0,0.1,0.1,,0\n"+
				itoa(ts+5e5)+",,"+itoa(int64(c.i))+",0,,4,u,0,0,0.1,0.1,,0\n")...)
		c.i++
	}
	if len(c.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	c.read += n
	return n, nil
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestGoogleStreams(t *testing.T) {
	in := &countingReader{n: 200000}
	r, err := traces.NewGoogleReader(in, "gen", traces.ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := r.NextCluster()
	if err != nil || j.ID != "0" {
		t.Fatalf("first job %v, %v", j, err)
	}
	if in.read > 1<<20 {
		t.Errorf("read %d bytes before the first job: not streaming", in.read)
	}
	n := 1
	for {
		_, err := r.NextCluster()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 200000 {
		t.Errorf("%d jobs, want 200000", n)
	}
}

func fuzzCluster(f *testing.F, kind, sample string) {
	b, err := os.ReadFile(filepath.Join("testdata", sample))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add("")
	f.Fuzz(func(t *testing.T, input string) {
		var src traces.ClusterSource
		if kind == "google" {
			src, _ = traces.NewGoogleReader(strings.NewReader(input), "fuzz", traces.ClusterOptions{Horizon: time.Minute})
		} else {
			src, _ = traces.NewAlibabaReader(strings.NewReader(input), "fuzz", traces.ClusterOptions{Horizon: time.Minute})
		}
		prev := time.Duration(-1)
		for range 10000 {
			j, err := src.NextCluster()
			if err != nil {
				var pe *traces.ParseError
				if !errors.Is(err, io.EOF) && !errors.As(err, &pe) {
					t.Fatalf("error %v is neither EOF nor a *ParseError", err)
				}
				if _, again := src.NextCluster(); again == nil {
					t.Fatal("reader recovered after an error")
				}
				return
			}
			if j.Submit < prev {
				t.Fatalf("submit %v after %v", j.Submit, prev)
			}
			prev = j.Submit
			if len(j.Tasks) == 0 {
				t.Fatalf("job %s with no tasks", j.ID)
			}
			for _, tk := range j.Tasks {
				if tk.Duration < 0 || tk.CPUs < 0 || tk.MemMB < 0 {
					t.Fatalf("job %s task %+v negative", j.ID, tk)
				}
			}
		}
	})
}

func FuzzGoogle(f *testing.F)  { fuzzCluster(f, "google", "google_task_events.csv") }
func FuzzAlibaba(f *testing.F) { fuzzCluster(f, "alibaba", "alibaba_batch_task.csv") }
