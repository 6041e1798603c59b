package traces

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// alibabaFields is the column count of the Alibaba cluster trace 2018's
// batch_task table.
const alibabaFields = 9

const alibabaColumns = "task_name, instance_num, job_name, task_type, status, start_time, end_time, plan_cpu, plan_mem"

// AlibabaReader streams jobs from the Alibaba cluster trace 2018
// (cluster-trace-v2018) batch_task CSV.
//
// Mapping, row by row:
//   - A row is one task of a DAG job: instance_num identical instances, each
//     requesting plan_cpu/100 CPUs (100 is one core) and plan_mem/100 of a
//     machine's memory (ClusterOptions.MachineMemMB), each running from
//     start_time to end_time (seconds). Instances become ClusterTasks,
//     numbered in the order read.
//   - Rows sharing job_name within Horizon of the job's first row form one
//     job; its Submit is that first row's start_time, counted from the
//     input's first row. A job is emitted once a row starts more than
//     Horizon after it; a later row with the same name starts a new job of
//     the same name. Task dependencies (the DAG in task_name) are not kept:
//     start times already carry them.
//   - Rows that did not run, a start or end time of 0 or an end before the
//     start (status Waiting, Running, or a truncated record), are skipped
//     and counted (see Skipped). Blank plan_cpu or plan_mem read as 0.
//
// The published file is not in time order: sort it by start time first,
// e.g. `sort -t, -k6,6n batch_task.csv`; a row that starts before the
// previous one is an error that says so. Memory is proportional to the jobs
// open within the horizon. A wrong field count, a non-integer count or time,
// or a negative request is a *ParseError naming the input and line.
type AlibabaReader struct {
	name    string
	sc      *bufio.Scanner
	opts    ClusterOptions
	line    int
	origin  int64 // first start time, s
	last    int64 // latest start time, s, relative
	started bool
	open    map[string]*ClusterJob
	fifo    []*ClusterJob // open jobs by first row
	ready   []ClusterJob
	emitted int
	skipped int
	eof     bool
	err     error
}

// NewAlibabaReader reads batch_task rows from r; name identifies the input
// in errors.
func NewAlibabaReader(r io.Reader, name string, opts ClusterOptions) (*AlibabaReader, error) {
	o, err := opts.withDefaults(96, 98304, 6*time.Hour)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*KiB), maxSWIMLine)
	return &AlibabaReader{name: name, sc: sc, opts: o, open: map[string]*ClusterJob{}}, nil
}

// Skipped reports how many rows were dropped because they did not run.
func (a *AlibabaReader) Skipped() int { return a.skipped }

// Next implements Source with flattened jobs (see ClusterJob.Job).
func (a *AlibabaReader) Next() (Job, error) { return AsSource(a).Next() }

// NextCluster implements ClusterSource.
func (a *AlibabaReader) NextCluster() (ClusterJob, error) {
	for len(a.ready) == 0 {
		if a.err != nil {
			return ClusterJob{}, a.err
		}
		if a.eof {
			if a.emitted == 0 {
				a.err = &ParseError{File: a.name, Err: ErrEmptyTrace}
			} else {
				a.err = io.EOF
			}
			return ClusterJob{}, a.err
		}
		if err := a.step(); err != nil {
			a.err = err
		}
	}
	j := a.ready[0]
	a.ready = a.ready[1:]
	return j, nil
}

func (a *AlibabaReader) step() error {
	if !a.sc.Scan() {
		if err := a.sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return &ParseError{File: a.name, Line: a.line + 1, Err: fmt.Errorf("line longer than %d bytes: not a batch_task file", maxSWIMLine)}
			}
			return &ParseError{File: a.name, Line: a.line, Err: err}
		}
		a.eof = true
		a.emit(len(a.fifo))
		return nil
	}
	a.line++
	line := strings.TrimRight(a.sc.Text(), "\r")
	if strings.TrimSpace(line) == "" {
		return nil
	}
	if err := a.row(line); err != nil {
		return &ParseError{File: a.name, Line: a.line, Err: err}
	}
	return nil
}

func (a *AlibabaReader) row(line string) error {
	f, err := splitCSV(line, alibabaFields, alibabaColumns)
	if err != nil {
		return err
	}
	n, err := parseInt("instance_num", f[1])
	if err != nil {
		return err
	}
	if n < 0 || n > 1<<20 {
		return fmt.Errorf("instance_num %d is out of range (0 to %d)", n, 1<<20)
	}
	job := strings.TrimSpace(f[2])
	if job == "" {
		return errors.New("empty job_name")
	}
	start, err := parseInt("start_time", f[5])
	if err != nil {
		return err
	}
	end, err := parseInt("end_time", f[6])
	if err != nil {
		return err
	}
	if start < 0 || end < 0 {
		return fmt.Errorf("negative time (start_time %d, end_time %d)", start, end)
	}
	if float64(start) > maxSeconds || float64(end) > maxSeconds {
		return fmt.Errorf("time too large (start_time %d, end_time %d; at most %.0f s)", start, end, maxSeconds)
	}
	cpu, _, err := parseFraction("plan_cpu", f[7])
	if err != nil {
		return err
	}
	mem, _, err := parseFraction("plan_mem", f[8])
	if err != nil {
		return err
	}
	if start == 0 || end == 0 || end < start || n == 0 {
		a.skipped++
		return nil
	}
	if !a.started {
		a.started, a.origin = true, start
	}
	rel := start - a.origin
	if rel < a.last {
		return fmt.Errorf("start_time %d s comes before the previous row's %d s: sort the file by start time first (sort -t, -k6,6n)", start, a.last+a.origin)
	}
	a.last = rel
	// Close jobs whose horizon has passed before adding to one.
	horizon := int64(a.opts.Horizon / time.Second)
	k := 0
	for k < len(a.fifo) && rel-int64(a.fifo[k].Submit/time.Second) > horizon {
		k++
	}
	a.emit(k)

	j := a.open[job]
	if j == nil {
		j = &ClusterJob{ID: job, Submit: time.Duration(rel) * time.Second}
		a.open[job] = j
		a.fifo = append(a.fifo, j)
	}
	for range n {
		j.Tasks = append(j.Tasks, ClusterTask{
			Index:    len(j.Tasks),
			CPUs:     cpu / 100,
			MemMB:    mem / 100 * a.opts.MachineMemMB,
			Duration: time.Duration(end-start) * time.Second,
		})
	}
	return nil
}

// emit moves the first k open jobs to ready.
func (a *AlibabaReader) emit(k int) {
	for _, j := range a.fifo[:k] {
		delete(a.open, j.ID)
		a.ready = append(a.ready, *j)
		a.emitted++
	}
	a.fifo = append(a.fifo[:0], a.fifo[k:]...)
}
