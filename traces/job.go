package traces

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Job is one MapReduce-style job as a framework sees it: when it arrives, how
// many tasks of each kind it has, how much data it moves and how long one
// task runs.
//
// Durations are per task at base speed, that is with the task's input read
// from the local disk; the simulator's cluster model stretches a task that
// reads remotely. All tasks of one kind in a job share one duration: the
// traces carry only per-job byte totals, so anything finer would be invented.
type Job struct {
	ID     string
	Submit time.Duration // offset from the start of the trace

	Maps, Reduces int

	InputBytes, ShuffleBytes, OutputBytes int64

	MapDuration, ReduceDuration time.Duration // per task, at base speed (data read locally)
}

// Source yields jobs in non-decreasing Submit order. Next returns io.EOF
// after the last job; any other error is final too.
//
// A Source is consumed by one goroutine; it is not safe for concurrent use.
type Source interface {
	Next() (Job, error)
}

// ReadAll drains src into a slice. It returns the jobs read before the first
// error together with that error, so a caller can report how far it got.
// Use it for traces that fit in memory; stream with Next otherwise.
func ReadAll(src Source) ([]Job, error) {
	var jobs []Job
	for {
		j, err := src.Next()
		if errors.Is(err, io.EOF) {
			return jobs, nil
		}
		if err != nil {
			return jobs, err
		}
		jobs = append(jobs, j)
	}
}

// SliceSource serves jobs from a slice, for tests and for callers that build
// a workload in code. It does not check the Submit order.
type SliceSource struct {
	jobs []Job
	next int
}

// NewSliceSource returns a Source over jobs. The slice is not copied.
func NewSliceSource(jobs []Job) *SliceSource { return &SliceSource{jobs: jobs} }

// Next implements Source.
func (s *SliceSource) Next() (Job, error) {
	if s.next >= len(s.jobs) {
		return Job{}, io.EOF
	}
	j := s.jobs[s.next]
	s.next++
	return j, nil
}

// ParseError reports bad input: which file, which line (1-based; 0 when the
// problem is the file as a whole, such as an empty trace) and what is wrong.
type ParseError struct {
	File string
	Line int
	Err  error
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrEmptyTrace is wrapped by the error a reader returns when its input holds
// no job at all: replaying nothing is almost always a wrong path or a
// truncated download, so it is not silently accepted.
var ErrEmptyTrace = errors.New("empty trace: no jobs")
