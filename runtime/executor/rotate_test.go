package executor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// kept reads path and its rotated files, oldest first, and fails the test
// if a file is larger than maxSize or more than maxFiles are kept.
func kept(t *testing.T, path string, maxSize int64, maxFiles int) []string {
	t.Helper()
	var files []string
	for i := maxFiles; i >= 1; i-- {
		b, err := os.ReadFile(path + "." + strconv.Itoa(i))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, string(b))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, string(b))
	for i, f := range files {
		if int64(len(f)) > maxSize {
			t.Errorf("file %d of %d holds %d bytes, more than the %d allowed", i, len(files), len(f), maxSize)
		}
	}
	if _, err := os.Stat(path + "." + strconv.Itoa(maxFiles+1)); err == nil {
		t.Errorf("%s.%d exists: more than %d rotated files kept", path, maxFiles+1, maxFiles)
	}
	return files
}

// A file fills to exactly its size, rotates only when more comes, splits
// a write that straddles the boundary, and the kept files, oldest first,
// are the tail of the stream.
func TestRotatingFileBoundaries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	r, err := newRotatingFile(path, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var stream strings.Builder
	write := func(s string) {
		t.Helper()
		if n, err := r.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
		stream.WriteString(s)
	}
	steps := []struct {
		write string
		want  []string // kept files, oldest first
	}{
		{"0123456789", []string{"0123456789"}}, // exactly full: not rotated yet
		{"a", []string{"0123456789", "a"}},
		{"bcdefghijklmnopqrstu", []string{"abcdefghij", "klmnopqrst", "u"}}, // split twice; the oldest dropped
		{"", []string{"abcdefghij", "klmnopqrst", "u"}},
		{"vwxyzABCDEFGHIJ", []string{"klmnopqrst", "uvwxyzABCD", "EFGHIJ"}},
	}
	for _, s := range steps {
		write(s.write)
		got := kept(t, path, 10, 2)
		if strings.Join(got, "|") != strings.Join(s.want, "|") {
			t.Errorf("after writing %q: files %q, want %q", s.write, got, s.want)
		}
		if all := stream.String(); !strings.HasSuffix(all, strings.Join(got, "")) {
			t.Errorf("kept files %q are not the tail of the stream %q", got, all)
		}
	}
}

// path.1 is always the newest rotated file and the oldest beyond the
// limit is dropped: numbered records show which is which.
func TestRotatingFileNumbering(t *testing.T) {
	path := filepath.Join(t.TempDir(), "task-x.stdout")
	r, err := newRotatingFile(path, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := fmt.Fprintf(r, "file%03d\n", i); err != nil { // 8 bytes: one file each
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{path: "file009\n", path + ".1": "file008\n", path + ".2": "file007\n", path + ".3": "file006\n"} {
		if b, err := os.ReadFile(name); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", filepath.Base(name), b, err, want)
		}
	}
	if _, err := os.Stat(path + ".4"); err == nil {
		t.Error(".4 exists with max files 3")
	}
	if _, err := r.Write([]byte("x")); err == nil {
		t.Error("Write after Close: no error")
	}
	if _, err := newRotatingFile(path, 0, 1); err == nil {
		t.Error("max size 0: no error")
	}
	if _, err := newRotatingFile(path, 10, 0); err == nil {
		t.Error("max files 0: no error")
	}
}

// Writers on many goroutines neither lose nor tear a record, and the
// bounds hold: records are 100 bytes and files 1,000, so every kept file
// holds whole records, and all that was not rotated out is there.
func TestRotatingFileConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	const (
		writers  = 8
		each     = 500
		record   = 100
		maxSize  = 1000
		maxFiles = 4
	)
	r, err := newRotatingFile(path, maxSize, maxFiles)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				rec := fmt.Sprintf("w%d-%04d ", w, i)
				rec += strings.Repeat(strconv.Itoa(w), record-len(rec)-1) + "\n"
				if _, err := r.Write([]byte(rec)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r.Close()
	files := kept(t, path, maxSize, maxFiles)
	if len(files) != maxFiles+1 {
		t.Fatalf("%d files kept, want %d", len(files), maxFiles+1)
	}
	total := 0
	for _, f := range files {
		total += len(f)
		for _, rec := range strings.SplitAfter(f, "\n") {
			if rec == "" {
				continue
			}
			var w, i int
			if n, _ := fmt.Sscanf(rec, "w%d-%d ", &w, &i); n != 2 || len(rec) != record || rec != fmt.Sprintf("w%d-%04d ", w, i)+strings.Repeat(strconv.Itoa(w), record-len(fmt.Sprintf("w%d-%04d ", w, i))-1)+"\n" {
				t.Fatalf("torn record %q", rec)
			}
		}
	}
	// writers*each*record bytes in total; the last (maxFiles+1) files'
	// worth remain, the current one full because the total divides evenly.
	if want := (maxFiles + 1) * maxSize; total != want {
		t.Errorf("%d bytes kept, want %d", total, want)
	}
}

// A task that writes far more than a file holds: its output is rotated,
// bounded, and continuous (the kept files, oldest first, are the last
// lines it printed), its last line is in the current file when its end is
// reported, and a child left holding the output open in the background
// does not hold the task's end back.
func TestCommandRotatesTaskOutput(t *testing.T) {
	dir := t.TempDir()
	f, _ := startExecutor(t, &Command{Dir: dir, LogMaxSize: 4096, LogMaxFiles: 2})
	f.events <- launch(mezzo.TaskInfo{ID: "chatty", Command: &mezzo.CommandInfo{Value: "seq 1 100000; seq 1 5000 >&2", Shell: true}})
	if s := next(t, f); s.State != mezzo.TaskRunning {
		t.Fatalf("first update %v", s.State)
	}
	if s := next(t, f); s.State != mezzo.TaskFinished {
		t.Fatalf("chatty ended %v %q", s.State, s.Message)
	}
	for _, stream := range []struct {
		file string
		last int
	}{{"task-chatty.stdout", 100000}, {"task-chatty.stderr", 5000}} {
		files := kept(t, filepath.Join(dir, stream.file), 4096, 2)
		all := strings.Join(files, "")
		if len(files) != 3 || len(all) < 2*4096 {
			t.Fatalf("%s: %d files, %d bytes; want 3 files, at least two full", stream.file, len(files), len(all))
		}
		lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")[1:] // the first may be cut
		first, _ := strconv.Atoi(lines[0])
		for i, l := range lines {
			if l != strconv.Itoa(first+i) {
				t.Fatalf("%s: line %d is %q, want %d: the kept output is not continuous", stream.file, i, l, first+i)
			}
		}
		if got := lines[len(lines)-1]; got != strconv.Itoa(stream.last) {
			t.Errorf("%s ends with %q, want %d", stream.file, got, stream.last)
		}
	}

	start := time.Now()
	f.events <- launch(mezzo.TaskInfo{ID: "bg", Command: &mezzo.CommandInfo{Value: "sleep 5 & echo started", Shell: true}})
	next(t, f)
	if s := next(t, f); s.State != mezzo.TaskFinished || time.Since(start) > 4*time.Second {
		t.Errorf("a task leaving a child in the background ended %v after %v; want FINISHED without waiting for the child", s.State, time.Since(start))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "task-bg.stdout")); !bytes.Equal(b, []byte("started\n")) {
		t.Errorf("task-bg.stdout = %q", b)
	}
}

func TestConfigFromEnvReadsLogRotation(t *testing.T) {
	for _, v := range []string{EnvAgentEndpoint, EnvFrameworkID, EnvExecutorID, EnvExecutorToken} {
		t.Setenv(v, "x")
	}
	t.Setenv(EnvLogMaxSize, "1048576")
	t.Setenv(EnvLogMaxFiles, "7")
	c, err := ConfigFromEnv()
	if err != nil || c.LogMaxSize != 1<<20 || c.LogMaxFiles != 7 {
		t.Errorf("ConfigFromEnv = %+v, %v; want 1 MiB and 7 files", c, err)
	}
	for _, bad := range []struct{ name, val string }{{EnvLogMaxSize, "0"}, {EnvLogMaxSize, "10MB"}, {EnvLogMaxFiles, "-1"}} {
		t.Setenv(EnvLogMaxSize, "1048576")
		t.Setenv(EnvLogMaxFiles, "7")
		t.Setenv(bad.name, bad.val)
		if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), bad.name) {
			t.Errorf("%s=%s: %v, want an error naming it", bad.name, bad.val, err)
		}
	}
}
