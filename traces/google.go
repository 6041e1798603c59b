package traces

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// googleFields is the column count of the Google 2011 trace's task_events
// table: time (µs), missing info, job ID, task index, machine ID, event
// type, user, scheduling class, priority, CPU request, memory request, disk
// request, different-machine constraint.
const googleFields = 13

// maxMicros keeps a µs time inside time.Duration's range.
const maxMicros = math.MaxInt64 / int64(time.Microsecond)

const googleColumns = "time, missing, job, task, machine, event, user, class, priority, cpu, mem, disk, constraint"

// Google task event types (the trace's schema document, section "Task events").
const (
	gSubmit = iota
	gSchedule
	gEvict
	gFail
	gFinish
	gKill
	gLost
	gUpdatePending
	gUpdateRunning
)

// GoogleReader streams jobs from the Google cluster trace 2011
// (clusterdata-2011-2) task_events CSV: one or more part files
// concatenated, uncompressed, in time order as published.
//
// Mapping, event by event:
//   - A job is every task sharing a job ID; its Submit is the time of its
//     first event, counted from the input's first timestamp (so a single
//     part file starts at 0). Timestamps of 0 (before the trace window)
//     count as the first timestamp; 2^63−1 (after it) as the last seen.
//   - A task's CPUs and MemMB are its latest non-blank request times the
//     machine size (ClusterOptions; requests are normalised to the largest
//     machine).
//   - A task runs from its last SCHEDULE to its next end event (EVICT,
//     FAIL, FINISH, KILL or LOST): Duration is that span, since that is what
//     it held a machine for. If it runs again, its last run counts.
//   - Only FINISH and KILL close a task: an evicted, failed or lost task is
//     normally resubmitted at once, so its job stays open.
//   - A job is emitted once all its tasks are closed, in order of first
//     event. A job still open Horizon after its first event is emitted
//     with its running tasks cut at the current time; later events of it
//     are ignored. Tasks that never ran are dropped; a job none of whose
//     tasks ran is skipped (see Skipped).
//   - Events for a job or task not seen before other than SUBMIT and
//     SCHEDULE (it began before the input) are ignored.
//
// Memory is proportional to the jobs open within the horizon, not to the
// file. Timestamps going backwards, a wrong field count, a non-integer ID,
// time or event type, or an unknown event type are *ParseError values naming
// the input and line.
type GoogleReader struct {
	name    string
	sc      *bufio.Scanner
	opts    ClusterOptions
	line    int
	origin  int64 // first timestamp, µs
	last    int64 // latest timestamp seen, µs (after origin)
	started bool
	jobs    map[int64]*gJob
	fifo    []*gJob // open and complete-but-unemitted jobs, by first event
	ready   []ClusterJob
	emitted int
	skipped int
	eof     bool
	err     error
}

type gJob struct {
	id     int64
	submit int64
	tasks  map[int64]*gTask
	open   int
	closed bool // cut at the horizon; ignore its later events
}

type gTask struct {
	cpu, mem float64
	start    int64 // -1: not running
	dur      int64 // last run, µs; -1: never ran
	done     bool
}

// NewGoogleReader reads task_events lines from r; name identifies the input
// in errors.
func NewGoogleReader(r io.Reader, name string, opts ClusterOptions) (*GoogleReader, error) {
	o, err := opts.withDefaults(8, 30720, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*KiB), maxSWIMLine)
	return &GoogleReader{name: name, sc: sc, opts: o, jobs: map[int64]*gJob{}}, nil
}

// Skipped reports how many jobs were dropped because none of their tasks ran.
func (g *GoogleReader) Skipped() int { return g.skipped }

// Next implements Source with flattened jobs (see ClusterJob.Job).
func (g *GoogleReader) Next() (Job, error) { return AsSource(g).Next() }

// NextCluster implements ClusterSource.
func (g *GoogleReader) NextCluster() (ClusterJob, error) {
	for len(g.ready) == 0 {
		if g.err != nil {
			return ClusterJob{}, g.err
		}
		if g.eof {
			if g.emitted == 0 {
				g.err = &ParseError{File: g.name, Err: ErrEmptyTrace}
			} else {
				g.err = io.EOF
			}
			return ClusterJob{}, g.err
		}
		if err := g.step(); err != nil {
			g.err = err
		}
	}
	j := g.ready[0]
	g.ready = g.ready[1:]
	return j, nil
}

// step reads one line (or the end of input) and moves finished jobs to ready.
func (g *GoogleReader) step() error {
	if !g.sc.Scan() {
		if err := g.sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return &ParseError{File: g.name, Line: g.line + 1, Err: fmt.Errorf("line longer than %d bytes: not a task_events file", maxSWIMLine)}
			}
			return &ParseError{File: g.name, Line: g.line, Err: err}
		}
		g.eof = true
		for _, j := range g.fifo {
			g.cut(j)
		}
		g.fifo = nil
		return nil
	}
	g.line++
	line := strings.TrimRight(g.sc.Text(), "\r")
	if strings.TrimSpace(line) == "" {
		return nil
	}
	if err := g.event(line); err != nil {
		return &ParseError{File: g.name, Line: g.line, Err: err}
	}
	g.flush()
	return nil
}

func (g *GoogleReader) event(line string) error {
	f, err := splitCSV(line, googleFields, googleColumns)
	if err != nil {
		return err
	}
	ts, err := parseInt("time", f[0])
	if err != nil {
		return err
	}
	if ts < 0 {
		return fmt.Errorf("time %d µs is negative", ts)
	}
	if ts != math.MaxInt64 && ts > maxMicros {
		return fmt.Errorf("time %d µs is too large (more than %d µs)", ts, int64(maxMicros))
	}
	jobID, err := parseInt("job ID", f[2])
	if err != nil {
		return err
	}
	idx, err := parseInt("task index", f[3])
	if err != nil {
		return err
	}
	ev, err := parseInt("event type", f[5])
	if err != nil {
		return err
	}
	if ev < gSubmit || ev > gUpdateRunning {
		return fmt.Errorf("event type %d is not one of 0 (submit) to 8 (update running)", ev)
	}
	cpu, hasCPU, err := parseFraction("CPU request", f[9])
	if err != nil {
		return err
	}
	mem, hasMem, err := parseFraction("memory request", f[10])
	if err != nil {
		return err
	}
	// Time, relative to the input's first timestamp.
	switch {
	case ts == math.MaxInt64:
		ts = g.last
	case !g.started:
		g.started, g.origin, g.last = true, ts, 0
		ts = 0
	case ts == 0:
		ts = 0
	default:
		ts -= g.origin
		if ts < g.last {
			return fmt.Errorf("time %d µs goes backwards (previous event at %d µs): task_events must be in time order", ts+g.origin, g.last+g.origin)
		}
		g.last = ts
	}
	if ts < 0 {
		ts = 0
	}

	j := g.jobs[jobID]
	if j == nil {
		if ev != gSubmit && ev != gSchedule {
			return nil
		}
		j = &gJob{id: jobID, submit: ts, tasks: map[int64]*gTask{}}
		g.jobs[jobID] = j
		g.fifo = append(g.fifo, j)
	}
	if j.closed {
		return nil
	}
	t := j.tasks[idx]
	if t == nil {
		if ev != gSubmit && ev != gSchedule {
			return nil
		}
		t = &gTask{start: -1, dur: -1}
		j.tasks[idx] = t
		j.open++
	}
	if hasCPU {
		t.cpu = cpu
	}
	if hasMem {
		t.mem = mem
	}
	switch ev {
	case gSubmit:
		if t.done {
			t.done = false
			j.open++
		}
	case gSchedule:
		if t.done {
			t.done = false
			j.open++
		}
		t.start = ts
	case gEvict, gFail, gFinish, gKill, gLost:
		if t.done {
			return nil
		}
		if t.start >= 0 {
			t.dur = ts - t.start
			t.start = -1
		}
		// Evicted, failed and lost tasks are usually resubmitted at once;
		// only FINISH and KILL close a task. A task that is not
		// resubmitted stays open until the horizon or the end of input.
		if ev == gFinish || ev == gKill {
			t.done = true
			j.open--
		}
	}
	return nil
}

// flush emits complete jobs from the head of the queue, and cuts jobs open
// longer than the horizon.
func (g *GoogleReader) flush() {
	horizon := g.opts.Horizon.Microseconds()
	n := 0
	for n < len(g.fifo) {
		j := g.fifo[n]
		if j.open > 0 && g.last-j.submit <= horizon {
			break
		}
		g.cut(j)
		n++
	}
	if n > 0 {
		g.fifo = append(g.fifo[:0], g.fifo[n:]...)
	}
}

// cut emits j with what is known now: running tasks end at the latest time.
func (g *GoogleReader) cut(j *gJob) {
	if j.open > 0 {
		j.closed = true // keep the ID so its later events are ignored
	} else {
		delete(g.jobs, j.id)
	}
	idx := make([]int64, 0, len(j.tasks))
	for i := range j.tasks {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	cj := ClusterJob{ID: fmt.Sprint(j.id), Submit: time.Duration(j.submit) * time.Microsecond}
	for _, i := range idx {
		t := j.tasks[i]
		dur := t.dur
		if t.start >= 0 {
			dur = g.last - t.start
		}
		if dur < 0 {
			continue
		}
		cj.Tasks = append(cj.Tasks, ClusterTask{
			Index:    int(i),
			CPUs:     t.cpu * g.opts.MachineCPUs,
			MemMB:    t.mem * g.opts.MachineMemMB,
			Duration: time.Duration(dur) * time.Microsecond,
		})
	}
	j.tasks = nil
	if len(cj.Tasks) == 0 {
		g.skipped++
		return
	}
	g.emitted++
	g.ready = append(g.ready, cj)
}
