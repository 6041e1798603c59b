package traces

import (
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// smallModel has round numbers so expected jobs can be worked out by hand.
var smallModel = TaskModel{
	BlockBytes:           100,
	BytesPerReduce:       1000,
	MapBytesPerSecond:    10,
	ReduceBytesPerSecond: 100,
	TaskOverhead:         time.Second,
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

func TestSWIMSmall(t *testing.T) {
	src, closer, err := Open(filepath.Join("testdata", "small.tsv"), Options{Tasks: smallModel})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	got, err := ReadAll(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		// 250 B in 100 B blocks: 3 maps of 83 B, 8.3 s each plus 1 s;
		// 2000 B to reduce: 2 reduces of 1000 B, 10 s plus 1 s.
		{ID: "job0", Submit: 0, Maps: 3, Reduces: 2, InputBytes: 250, ShuffleBytes: 1500, OutputBytes: 500,
			MapDuration: ms(9300), ReduceDuration: ms(11000)},
		// No input still needs one map; nothing to reduce means no reduces.
		{ID: "job1", Submit: 5 * time.Second, Maps: 1, Reduces: 0,
			MapDuration: ms(1000)},
		// After a blank line, and with a CRLF ending. One output byte still
		// needs a reducer.
		{ID: "job2", Submit: 5 * time.Second, Maps: 1, Reduces: 1, InputBytes: 100, OutputBytes: 1,
			MapDuration: ms(11000), ReduceDuration: ms(1010)},
		// Decimal seconds; 101 B spill into a second block.
		{ID: "job3", Submit: ms(12500), Maps: 2, Reduces: 1, InputBytes: 101, ShuffleBytes: 999,
			MapDuration: ms(6000), ReduceDuration: ms(10990)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
}

func TestSWIMMalformed(t *testing.T) {
	tests := []struct {
		file string
		line int
		want string // part of the message
	}{
		{"fields.tsv", 2, "want 6 tab-separated fields"},
		{"number.tsv", 3, `map input bytes "12x" is not an integer`},
		{"negative.tsv", 1, "shuffle bytes -5 is negative"},
		{"backwards.tsv", 3, "submit time 4 s goes backwards (previous job submitted at 10 s)"},
		{"time.tsv", 1, `submit time "soon" is not a number`},
		{"noid.tsv", 2, "empty job id"},
		{"empty.tsv", 0, "empty trace"},
		{"blank.tsv", 0, "empty trace"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			src, closer, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			jobs, err := ReadAll(src)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ReadAll error = %v, want a *ParseError", err)
			}
			if pe.File != path || pe.Line != tc.line {
				t.Errorf("error at %s:%d, want %s:%d", pe.File, pe.Line, path, tc.line)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if tc.line > 0 && !strings.HasPrefix(err.Error(), path+":"+strconv.Itoa(tc.line)+": ") {
				t.Errorf("error %q does not start with file:line", err)
			}
			// Every line before the bad one was delivered.
			if want := max(tc.line-1, 0); len(jobs) != want {
				t.Errorf("%d jobs before the error, want %d", len(jobs), want)
			}
			// The failure is sticky.
			if _, err2 := src.Next(); err2 != err {
				t.Errorf("Next after failure = %v, want the same error %v", err2, err)
			}
		})
	}
}

func TestSWIMEmptyTraceIsErrEmptyTrace(t *testing.T) {
	r, err := NewSWIMReader(strings.NewReader(""), "mem", TaskModel{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrEmptyTrace) {
		t.Errorf("Next on empty input = %v, want ErrEmptyTrace", err)
	}
}

func TestSWIMLineTooLong(t *testing.T) {
	in := "job0\t1\t1\t10\t0\t0\n" + strings.Repeat("x", maxSWIMLine+1) + "\n"
	r, err := NewSWIMReader(strings.NewReader(in), "mem", TaskModel{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ReadAll(r)
	if err == nil || !strings.HasPrefix(err.Error(), "mem:2: line longer than") {
		t.Errorf("error = %v, want mem:2: line longer than …", err)
	}
}

func TestSWIMOverflowingBytes(t *testing.T) {
	in := "job0\t1\t1\t10\t9223372036854775807\t1\n"
	r, err := NewSWIMReader(strings.NewReader(in), "mem", TaskModel{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "overflow") {
		t.Errorf("error = %v, want an overflow error", err)
	}
}

func TestBadTaskModel(t *testing.T) {
	_, err := NewSWIMReader(strings.NewReader(""), "mem", TaskModel{MapBytesPerSecond: -1, BlockBytes: -2})
	if err == nil || !strings.Contains(err.Error(), "map bytes per second") || !strings.Contains(err.Error(), "block bytes") {
		t.Errorf("error = %v, want both problems named", err)
	}
}

func TestFB2009Embedded(t *testing.T) {
	src, closer, err := Open("swim:fb2009", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	jobs, err := ReadAll(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 5894 {
		t.Fatalf("embedded day has %d jobs, want 5894", len(jobs))
	}
	if len(jobs) != FB2009Jobs {
		t.Errorf("FB2009Jobs = %d, but the embedded day has %d jobs", FB2009Jobs, len(jobs))
	}
	// First line: job0 49 49 740773 2339561 627471. With the default model,
	// one map of 740,773 B at 4 MiB/s (0.177 s) plus 3 s, and one reduce of
	// 2,967,032 B at 8 MiB/s (0.354 s) plus 3 s.
	want := Job{ID: "job0", Submit: 49 * time.Second, Maps: 1, Reduces: 1,
		InputBytes: 740773, ShuffleBytes: 2339561, OutputBytes: 627471,
		MapDuration: ms(3177), ReduceDuration: ms(3354)}
	if diff := cmp.Diff(want, jobs[0]); diff != "" {
		t.Errorf("first job (-want +got):\n%s", diff)
	}
	last := jobs[len(jobs)-1]
	if last.ID != "job5893" || last.Submit != 86404*time.Second {
		t.Errorf("last job %s at %v, want job5893 at 86404s", last.ID, last.Submit)
	}
	single := 0
	for i, j := range jobs {
		if i > 0 && j.Submit < jobs[i-1].Submit {
			t.Fatalf("%s submitted before %s", j.ID, jobs[i-1].ID)
		}
		if j.Maps == 1 {
			single++
		}
	}
	// REPRODUCTION.md: with 64 MB maps, 86 % of these jobs have one map.
	if share := float64(single) / float64(len(jobs)); share < 0.85 || share > 0.87 {
		t.Errorf("single-map share %.3f, want about 0.86", share)
	}
}

func TestSWIMLicense(t *testing.T) {
	l := SWIMLicense()
	for _, want := range []string{"Regents of the University of California", "Redistributions in binary form"} {
		if !strings.Contains(l, want) {
			t.Errorf("licence text lacks %q", want)
		}
	}
}

func TestOpenSpecs(t *testing.T) {
	tests := []struct {
		spec string
		want string // part of the error
	}{
		{"", "empty trace spec"},
		{"hdfs:/x.tsv", `unknown trace scheme "hdfs"`},
		{"synthetic:google", `unknown synthetic workload "google"`},
		{"swim:", "names no SWIM trace"},
		{"swim:testdata/nope.tsv", "no such file"},
		{"testdata/nope.tsv", "no such file"},
	}
	for _, tc := range tests {
		_, _, err := Open(tc.spec, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) error = %v, want it to say %q", tc.spec, err, tc.want)
		}
		if tc.spec != "testdata/nope.tsv" && tc.spec != "swim:testdata/nope.tsv" &&
			(err == nil || !strings.Contains(err.Error(), "swim:fb2009, swim:<path>, synthetic:fb, google:<path>, alibaba:<path>, <path>")) {
			t.Errorf("Open(%q) error = %v, want the known specs listed", tc.spec, err)
		}
	}
	// swim:<path> and a bare path read the same file.
	a := mustReadAll(t, "swim:testdata/small.tsv")
	b := mustReadAll(t, "testdata/small.tsv")
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("swim:<path> and <path> differ (-swim: +bare):\n%s", diff)
	}
	if len(Specs()) != 6 {
		t.Errorf("Specs() = %q, want 6 entries", Specs())
	}
}

func mustReadAll(t *testing.T, spec string) []Job {
	t.Helper()
	src, closer, err := Open(spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	jobs, err := ReadAll(src)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestSliceSource(t *testing.T) {
	in := []Job{{ID: "a"}, {ID: "b", Submit: time.Second}}
	got, err := ReadAll(NewSliceSource(in))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func BenchmarkFB2009(b *testing.B) {
	b.ReportAllocs()
	jobs := 0
	for b.Loop() {
		r, err := OpenFB2009(TaskModel{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			jobs++
		}
	}
	b.ReportMetric(float64(jobs)/b.Elapsed().Seconds(), "jobs/s")
}

// endless serves SWIM lines forever; a reader that slurped its input would
// never return.
type endless struct {
	n   int
	buf []byte
}

func (e *endless) Read(p []byte) (int, error) {
	for len(e.buf) < len(p) {
		e.buf = append(e.buf, "job"+strconv.Itoa(e.n)+"\t"+strconv.Itoa(e.n)+"\t1\t1000\t10\t10\n"...)
		e.n++
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

func TestSWIMStreams(t *testing.T) {
	r, err := NewSWIMReader(&endless{}, "endless", TaskModel{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		j, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if want := "job" + strconv.Itoa(i); j.ID != want || j.Submit != time.Duration(i)*time.Second {
			t.Fatalf("job %d is %s at %v", i, j.ID, j.Submit)
		}
	}
}
