package agent

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// statusFiles lists the stream files under dir/status, whatever their
// layout, and the files moved aside as damaged.
func statusFiles(t *testing.T, dir string) (streams, aside []string) {
	t.Helper()
	_ = filepath.WalkDir(filepath.Join(dir, "status"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if strings.HasSuffix(p, corruptExt) {
				aside = append(aside, p)
			} else {
				streams = append(streams, p)
			}
		}
		return nil
	})
	return streams, aside
}

// streamFileOf is the stream file whose records name task.
func streamFileOf(t *testing.T, dir string, task mezzo.TaskID) string {
	t.Helper()
	files, _ := statusFiles(t, dir)
	want, _ := json.Marshal(string(task))
	for _, f := range files {
		if b, _ := os.ReadFile(f); bytes.Contains(b, want) {
			return f
		}
	}
	t.Fatalf("no status file names task %s (files %v)", task, files)
	return ""
}

// A crash mid-write leaves a torn last record. The next run cuts it off
// before it stores anything, so what it stores next is whole, and the run
// after it starts and resends it (an agent used to append onto the torn
// line, and then refuse to start: "status file … line 2: invalid
// character").
func TestTornStatusRecordIsCutOff(t *testing.T) {
	m := startFakeMaster(t, false)
	dir := t.TempDir()
	cfg := Config{Emulated: true, WorkDir: dir, StatusRetry: time.Hour}
	_, stop := startAgent(t, m, cfg)
	<-m.subscribes
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: "t", Duration: time.Hour})
	if s := m.nextUpdate(t, "t"); s.State != mezzo.TaskRunning {
		t.Fatalf("got %v", s.State)
	}
	stop()

	// Tear: half of a record, no newline, as a crash mid-write leaves it.
	file := streamFileOf(t, dir, "t")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	torn := append(append([]byte(nil), b...), b[:len(b)/2]...)
	if err := os.WriteFile(file, torn, 0o600); err != nil {
		t.Fatal(err)
	}

	// The next run stores TASK_LOST (the task's executor is gone).
	_, stop = startAgent(t, m, cfg)
	<-m.subscribes
	running := m.nextUpdate(t, "t")
	m.events <- ackEvent("fw", running)
	lost := m.nextUpdate(t, "t")
	if lost.State != mezzo.TaskLost {
		t.Fatalf("after restart: %v, want TASK_LOST", lost.State)
	}
	stop()

	// And the one after starts and resends it.
	startAgent(t, m, cfg)
	<-m.subscribes
	if again := m.nextUpdate(t, "t"); again.UUID != lost.UUID {
		t.Fatalf("after a second restart: %v %s, want the stored TASK_LOST %s", again.State, again.UUID, lost.UUID)
	}
	if _, aside := statusFiles(t, dir); len(aside) != 0 {
		t.Errorf("files moved aside: %v; a torn record is not corruption", aside)
	}
}

// A record damaged in the middle of a file (valid records follow it) is
// not a tear: the file is moved aside, kept, and the agent starts with the
// other tasks' updates. The task of the damaged file is not reported (the
// master then declares it lost).
func TestCorruptStatusFileIsMovedAside(t *testing.T) {
	m := startFakeMaster(t, false)
	dir := t.TempDir()
	cfg := Config{Emulated: true, WorkDir: dir, StatusRetry: time.Hour}
	_, stop := startAgent(t, m, cfg)
	<-m.subscribes
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: "victim", Duration: time.Hour}, mezzo.TaskInfo{ID: "other", Duration: time.Hour})
	v := m.nextUpdate(t, "victim")
	m.nextUpdate(t, "other")
	m.events <- ackEvent("fw", v) // a second record in victim's file
	file := streamFileOf(t, dir, "victim")
	waitFor(t, func() bool { b, _ := os.ReadFile(file); return bytes.Count(b, []byte("\n")) == 2 })
	stop()

	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"victim"`))
	b[i+2] = '#' // bit rot inside the first record
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}

	startAgent(t, m, cfg)
	req := <-m.subscribes
	for _, rt := range req.Tasks {
		if rt.GetTask().GetTaskId() == "victim" {
			t.Errorf("re-registration reports the task of the damaged file: %v", rt)
		}
	}
	if s := m.nextUpdate(t, "other"); s.State != mezzo.TaskRunning {
		t.Errorf("other: %v, want its stored RUNNING resent", s.State)
	}
	streams, aside := statusFiles(t, dir)
	if len(aside) != 1 || !strings.HasPrefix(aside[0], file+".") {
		t.Errorf("moved aside: %v, want %s kept beside", aside, file)
	}
	for _, f := range streams {
		if f == file {
			t.Errorf("damaged file %s still loaded", f)
		}
	}
}

// legacyLine is a record in the previous format (plain JSON lines).
func legacyLine(t *testing.T, r record) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A work directory of the previous format is read and rewritten in place,
// with the record its writer appended onto a torn line recovered.
func TestStatusFilesOfThePreviousFormatAreRead(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, "status", "f-fw", "t-old.jsonl")
	if err := os.MkdirAll(filepath.Dir(legacy), 0o755); err != nil {
		t.Fatal(err)
	}
	run := mezzo.TaskStatus{TaskID: "old", State: mezzo.TaskRunning, UUID: "u-run"}
	fin := mezzo.TaskStatus{TaskID: "old", State: mezzo.TaskFinished, UUID: "u-fin"}
	torn := legacyLine(t, record{Framework: "fw", Update: &mezzo.TaskStatus{TaskID: "old", State: mezzo.TaskFailed, UUID: "u-torn"}})
	text := legacyLine(t, record{Framework: "fw", Update: &run}) + "\n" +
		torn[:len(torn)/2] + legacyLine(t, record{Framework: "fw", Update: &fin}) + "\n"
	if err := os.WriteFile(legacy, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	m := startFakeMaster(t, false)
	a, _ := startAgent(t, m, Config{Emulated: true, WorkDir: dir, StatusRetry: time.Hour})
	req := <-m.subscribes
	if len(req.Tasks) != 1 || !strings.Contains(req.Tasks[0].State.String(), "FINISHED") {
		t.Errorf("re-registration reports %v, want task old FINISHED", req.Tasks)
	}
	if _, err := os.Stat(filepath.Dir(legacy)); !os.IsNotExist(err) {
		t.Errorf("the previous format's directory is still there (%v)", err)
	}
	if streams, _ := statusFiles(t, dir); len(streams) != 1 || !strings.HasSuffix(streams[0], streamExt) {
		t.Errorf("status files %v, want one of the current format", streams)
	}
	for _, want := range []mezzo.TaskStatus{run, fin} {
		s := m.nextUpdate(t, "old")
		if s.UUID != want.UUID || s.State != want.State {
			t.Fatalf("got %v %s, want %v %s", s.State, s.UUID, want.State, want.UUID)
		}
		m.events <- ackEvent("fw", s)
	}
	waitFor(t, func() bool { streams, _ := statusFiles(t, dir); return len(streams) == 0 })
	if p := a.store.pending("fw", "old"); len(p) != 0 {
		t.Errorf("pending after both acks: %v", p)
	}
}

// The store's file format: records round-trip; a torn tail is told from
// damage in the middle; file names are fixed-length whatever the IDs.
func TestStreamFileFormat(t *testing.T) {
	var b []byte
	var err error
	recs := []record{
		{Framework: "fw", Update: &mezzo.TaskStatus{TaskID: "t", State: mezzo.TaskRunning, UUID: "1", Message: "a\nb"}},
		{Ack: "1"},
		{Framework: "fw", Update: &mezzo.TaskStatus{TaskID: "t", State: mezzo.TaskFinished, UUID: "2"}},
	}
	var ends []int
	for _, r := range recs {
		if b, err = appendRecord(b, r); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, len(b))
	}
	got, end, corrupt := scanRecords(b, decodeRecord)
	if len(got) != 3 || end != len(b) || corrupt != 0 || got[0].Update.Message != "a\nb" {
		t.Fatalf("whole file: %d records, end %d of %d, corrupt line %d", len(got), end, len(b), corrupt)
	}
	for cut := ends[1] + 1; cut < len(b); cut++ {
		if got, end, corrupt := scanRecords(b[:cut], decodeRecord); len(got) != 2 || end != ends[1] || corrupt != 0 {
			t.Fatalf("torn at %d: %d records, end %d, corrupt line %d; want 2 records ending at %d", cut, len(got), end, corrupt, ends[1])
		}
	}
	// A garbled tail (zeros a crash left in place of data) is a tear too.
	zeros := append(append([]byte(nil), b[:ends[1]]...), make([]byte, 40)...)
	if got, end, corrupt := scanRecords(append(zeros, '\n'), decodeRecord); len(got) != 2 || end != ends[1] || corrupt != 0 {
		t.Errorf("zero tail: %d records, end %d, corrupt line %d", len(got), end, corrupt)
	}
	flipped := append([]byte(nil), b...)
	flipped[ends[0]+12] ^= 0x20 // inside the ack record, a valid one follows
	if _, _, corrupt := scanRecords(flipped, decodeRecord); corrupt != 2 {
		t.Errorf("a damaged middle record: corrupt line %d, want 2", corrupt)
	}

	long := streamKey{fw: "fw", task: mezzo.TaskID(strings.Repeat("é", 200))}
	for _, k := range []streamKey{long, {fw: "a", task: "bc"}, {fw: "ab", task: "c"}, {fw: "../..", task: "/etc/passwd"}} {
		if n := streamName(k); len(n) != 64 || strings.ContainsAny(n, "/.") {
			t.Errorf("stream name of %v: %q", k, n)
		}
	}
	if streamName(streamKey{fw: "a", task: "bc"}) == streamName(streamKey{fw: "ab", task: "c"}) {
		t.Error("two pairs of IDs share a stream name")
	}
}
