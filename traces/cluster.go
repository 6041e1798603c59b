package traces

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ClusterJob is a job from a cluster trace (Google 2011, Alibaba 2018): a
// set of independent tasks, each with its own resource request and run time.
// It keeps what a MapReduce-shaped [Job] cannot: per-task demands, for
// policies that pack (see alloc.Tetris).
type ClusterJob struct {
	ID     string
	Submit time.Duration // offset from the first event of the input
	Tasks  []ClusterTask
}

// ClusterTask is one task that ran.
type ClusterTask struct {
	// Index is the task's position in its job: Google's task index, or a
	// running count over an Alibaba job's task instances.
	Index    int
	CPUs     float64
	MemMB    float64
	Duration time.Duration
}

// ClusterSource yields cluster jobs in non-decreasing Submit order; io.EOF
// after the last.
type ClusterSource interface {
	NextCluster() (ClusterJob, error)
}

// Job flattens a cluster job into the Job every mezzo framework replays: one
// map task per cluster task, running for the mean of their durations, no
// reduces and no bytes. Per-task demands are dropped; read them from the
// ClusterJob.
func (c ClusterJob) Job() Job {
	var sum time.Duration
	for _, t := range c.Tasks {
		sum += t.Duration
	}
	j := Job{ID: c.ID, Submit: c.Submit, Maps: len(c.Tasks)}
	if len(c.Tasks) > 0 {
		j.MapDuration = sum / time.Duration(len(c.Tasks))
	}
	return j
}

// ClusterOptions configure the Google and Alibaba readers. Zero fields take
// their defaults.
type ClusterOptions struct {
	// MachineCPUs and MachineMemMB are what a request of 1.0 (Google) or
	// 100 (Alibaba memory) means. Both traces normalise requests to a
	// machine and do not publish the machine. Google's defaults, 8 CPUs
	// and 30,720 MB, make the trace's common 0.5/0.5 machine mezzo's
	// default agent (cpus:4;mem:15360). Alibaba's defaults, 96 CPUs and
	// 98,304 MB, are its 96-core machines at 1 GB per core (an assumption;
	// Alibaba's CPU requests are in cores already, 100 = 1 core).
	MachineCPUs, MachineMemMB float64
	// Horizon bounds how long a job stays open waiting for more of its
	// events: a job whose first event is older than Horizon is emitted with
	// the tasks it has, still-running tasks cut at the current time. It
	// bounds memory on endless services; default 24 h (Google), 6 h
	// (Alibaba).
	Horizon time.Duration
}

func (o ClusterOptions) withDefaults(cpus, mem float64, horizon time.Duration) (ClusterOptions, error) {
	if o.MachineCPUs < 0 || o.MachineMemMB < 0 || o.Horizon < 0 {
		return o, errors.New("traces: negative machine size or horizon in ClusterOptions")
	}
	if o.MachineCPUs == 0 {
		o.MachineCPUs = cpus
	}
	if o.MachineMemMB == 0 {
		o.MachineMemMB = mem
	}
	if o.Horizon == 0 {
		o.Horizon = horizon
	}
	return o, nil
}

// clusterAdapter serves a ClusterSource as a Source.
type clusterAdapter struct{ src ClusterSource }

func (c clusterAdapter) Next() (Job, error) {
	j, err := c.src.NextCluster()
	if err != nil {
		return Job{}, err
	}
	return j.Job(), nil
}

// AsSource turns a ClusterSource into a Source of flattened jobs (see
// ClusterJob.Job).
func AsSource(src ClusterSource) Source { return clusterAdapter{src} }

// splitCSV splits a line into exactly n comma-separated fields (the traces
// quote nothing), or says how many it found.
func splitCSV(line string, n int, what string) ([]string, error) {
	f := strings.Split(line, ",")
	if len(f) != n {
		return nil, fmt.Errorf("want %d comma-separated fields (%s), got %d", n, what, len(f))
	}
	return f, nil
}

func parseInt(what, s string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", what, s)
	}
	return v, nil
}

// parseFraction reads an optional non-negative float; empty is 0 (the
// traces leave requests blank when unknown).
func parseFraction(what, s string) (float64, bool, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v != v || v < 0 || v > 1e9 {
		return 0, false, fmt.Errorf("%s %q is not a non-negative number", what, s)
	}
	return v, true, nil
}
