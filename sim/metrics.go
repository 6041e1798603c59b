package sim

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/traces"
)

// JobRow is one job's outcome, measured by the simulator from its tasks
// (those labelled JobLabel=ID), not reported by the framework. Times are
// offsets from Epoch; Start and Finish are -1 when the job never started or
// did not finish.
type JobRow struct {
	Framework string
	Job       string
	Submit    time.Duration
	Start     time.Duration
	Finish    time.Duration
	// Tasks counts tasks that finished; Attempts every task launched,
	// retries included; InputTasks the finished ones that read input and
	// LocalTasks those of them that ran on an agent holding their data.
	Tasks, Attempts, InputTasks, LocalTasks int
	// Completed: a trace job is complete once Maps+Reduces of its tasks
	// have finished; a job the framework made up itself, once it has no
	// task left running at the end.
	Completed bool

	want    int // Maps+Reduces, -1 when not from a trace
	running int
}

// ShareSample is one framework's allocation at one instant.
type ShareSample struct {
	At        time.Duration
	Framework string
	// Share is the dominant share of what it is offered or uses.
	Share float64
	// CPUShare and MemShare are what its tasks use, as fractions of the
	// cluster.
	CPUShare, MemShare float64
	Tasks              int
}

// FrameworkSummary sums up one framework's run.
type FrameworkSummary struct {
	Name      string  `json:"name"`
	Jobs      int     `json:"jobs"`
	Completed int     `json:"completed"`
	MeanJCT   float64 `json:"mean_job_completion_s"`
	P95JCT    float64 `json:"p95_job_completion_s"`
	Tasks     int     `json:"tasks"`
	Input     int     `json:"input_tasks"`
	Local     int     `json:"local_tasks"`
	// Locality is Local/Input, 0 when no task read input.
	Locality float64 `json:"locality"`
	// MeanShare is the mean dominant share sampled; Utilisation the mean
	// fraction of the cluster's CPUs its tasks used.
	MeanShare   float64 `json:"mean_share"`
	Utilisation float64 `json:"cpu_utilisation"`
}

// Summary is the run's summary.json.
type Summary struct {
	Policy     string             `json:"policy"`
	Agents     int                `json:"agents"`
	Seed       uint64             `json:"seed"`
	Jobs       int                `json:"jobs"`
	Completed  int                `json:"completed"`
	Virtual    float64            `json:"virtual_seconds"`
	Events     uint64             `json:"events"`
	Tasks      int                `json:"tasks_launched"`
	Rejected   int                `json:"tasks_rejected"`
	Offers     int                `json:"offers"`
	Util       float64            `json:"cpu_utilisation"`
	Frameworks []FrameworkSummary `json:"frameworks"`
}

// Result is what a run produced.
type Result struct {
	Jobs    []JobRow
	Shares  []ShareSample
	Summary Summary
	Stats   Stats
}

type metrics struct {
	s      *Simulation
	rows   []*JobRow
	byJob  map[jobKey]*JobRow
	fwRows map[string][]*JobRow
	order  []string // framework names, in addition order
	fwIdx  map[string]int
	shares []ShareSample
	done   int
	total  int
}

func newMetrics(s *Simulation) *metrics {
	return &metrics{s: s, byJob: map[jobKey]*JobRow{}, fwRows: map[string][]*JobRow{}, fwIdx: map[string]int{}}
}

type jobKey struct{ fw, job string }

func (m *metrics) addFramework(sp *FrameworkSpec) {
	m.fwIdx[sp.Name] = len(m.order)
	m.order = append(m.order, sp.Name)
	for _, j := range sp.Jobs {
		m.row(sp.Name, j.ID, j.Submit, j.Maps+j.Reduces)
	}
}

func (m *metrics) row(fw, job string, submit time.Duration, want int) *JobRow {
	k := jobKey{fw, job}
	if r, ok := m.byJob[k]; ok {
		return r
	}
	r := &JobRow{Framework: fw, Job: job, Submit: submit, Start: -1, Finish: -1, want: want}
	m.byJob[k] = r
	m.rows = append(m.rows, r)
	m.fwRows[fw] = append(m.fwRows[fw], r)
	m.total++
	if want == 0 {
		r.Completed, r.Start, r.Finish = true, submit, submit
		m.done++
	}
	return r
}

func (m *metrics) hooks() Hooks {
	return Hooks{
		TaskLaunched: func(fw mezzo.FrameworkID, t *mezzo.TaskInfo, _ mezzo.AgentID, _ Level) {
			job, ok := t.Labels[JobLabel]
			if !ok {
				return
			}
			now := m.s.eng.Elapsed()
			r := m.row(string(fw), job, now, -1)
			if r.Start < 0 {
				r.Start = now
			}
			r.Attempts++
			r.running++
		},
		TaskEnded: func(fw mezzo.FrameworkID, t *mezzo.TaskInfo, _ mezzo.AgentID, level Level, state mezzo.TaskState) {
			job, ok := t.Labels[JobLabel]
			if !ok {
				return
			}
			r := m.byJob[jobKey{string(fw), job}]
			if r == nil {
				return
			}
			r.running--
			if state != mezzo.TaskFinished {
				return
			}
			r.Tasks++
			r.Finish = m.s.eng.Elapsed()
			if len(t.Input) > 0 {
				r.InputTasks++
				if level == NodeLocal {
					r.LocalTasks++
				}
			}
			if r.want > 0 && r.Tasks == r.want {
				r.Completed = true
				m.done++
			}
		},
	}
}

func (m *metrics) finishedJobs() int { return m.done }
func (m *metrics) totalJobs() int    { return m.total }

func (m *metrics) sampleEvery(d time.Duration) {
	var tick func()
	tick = func() {
		m.sample()
		m.s.eng.After(d, tick)
	}
	m.s.eng.After(0, tick)
}

func (m *metrics) sample() {
	total := m.s.alloc.Totals().Total
	now := m.s.eng.Elapsed()
	for _, name := range m.order {
		st, ok := m.s.alloc.Framework(mezzo.FrameworkID(name))
		if !ok {
			continue
		}
		m.shares = append(m.shares, ShareSample{
			At: now, Framework: name, Share: st.DominantShare,
			CPUShare: st.Used.Share(mezzo.CPUs, total), MemShare: st.Used.Share(mezzo.Mem, total),
			Tasks: m.s.world.RunningTasks(mezzo.FrameworkID(name)),
		})
	}
}

func (m *metrics) result() *Result {
	for _, r := range m.rows {
		if r.want < 0 && r.running == 0 && r.Tasks > 0 && !r.Completed {
			r.Completed = true
			m.done++
		}
	}
	rows := make([]JobRow, len(m.rows))
	for i, r := range m.rows {
		rows[i] = *r
		if !r.Completed {
			rows[i].Finish = -1
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Submit != rows[j].Submit {
			return rows[i].Submit < rows[j].Submit
		}
		return m.fwIdx[rows[i].Framework] < m.fwIdx[rows[j].Framework]
	})
	st := m.s.world.Stats()
	sum := Summary{
		Policy: m.s.cfg.Policy, Agents: m.s.cluster.Size(), Seed: m.s.cfg.Seed,
		Jobs: len(rows), Completed: m.done, Virtual: m.s.eng.Elapsed().Seconds(),
		Events: m.s.eng.Processed(), Tasks: st.Launched, Rejected: st.Rejected, Offers: st.Offers,
	}
	for _, name := range m.order {
		fs := FrameworkSummary{Name: name}
		var jct []float64
		for _, r := range m.fwRows[name] {
			fs.Jobs++
			fs.Tasks += r.Tasks
			fs.Input += r.InputTasks
			fs.Local += r.LocalTasks
			if r.Completed {
				fs.Completed++
				jct = append(jct, (r.Finish - r.Submit).Seconds())
			}
		}
		if len(jct) > 0 {
			sort.Float64s(jct)
			fs.MeanJCT = round(stat.Mean(jct, nil))
			fs.P95JCT = round(stat.Quantile(0.95, stat.Empirical, jct, nil))
		}
		if fs.Input > 0 {
			fs.Locality = round(float64(fs.Local) / float64(fs.Input))
		}
		n := 0
		for _, s := range m.shares {
			if s.Framework == name {
				n++
				fs.MeanShare += s.Share
				fs.Utilisation += s.CPUShare
			}
		}
		if n > 0 {
			fs.MeanShare = round(fs.MeanShare / float64(n))
			fs.Utilisation = round(fs.Utilisation / float64(n))
		}
		sum.Frameworks = append(sum.Frameworks, fs)
	}
	sum.Util = clusterUtilisation(m.shares)
	return &Result{Jobs: rows, Shares: append([]ShareSample(nil), m.shares...), Summary: sum, Stats: st}
}

// clusterUtilisation is the mean, over sampling instants, of the CPU share
// all frameworks' tasks use together. Summing each framework's own mean
// instead would count frameworks present for part of the run over different
// windows, and can exceed 1.
func clusterUtilisation(samples []ShareSample) float64 {
	var total float64
	instants := 0
	for i := 0; i < len(samples); {
		at := samples[i].At
		for i < len(samples) && samples[i].At == at {
			total += samples[i].CPUShare
			i++
		}
		instants++
	}
	if instants == 0 {
		return 0
	}
	return round(total / float64(instants))
}

// round keeps six decimals, so summaries print the same everywhere.
func round(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func seconds(d time.Duration) string {
	if d < 0 {
		return ""
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// WriteJobsCSV writes one row per job.
func (r *Result) WriteJobsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"framework", "job", "submit_s", "start_s", "finish_s", "completion_s", "tasks", "attempts", "input_tasks", "local_tasks"})
	for _, j := range r.Jobs {
		jct := ""
		if j.Finish >= 0 {
			jct = seconds(j.Finish - j.Submit)
		}
		_ = cw.Write([]string{j.Framework, j.Job, seconds(j.Submit), seconds(j.Start), seconds(j.Finish), jct,
			strconv.Itoa(j.Tasks), strconv.Itoa(j.Attempts), strconv.Itoa(j.InputTasks), strconv.Itoa(j.LocalTasks)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteFrameworksCSV writes the share samples.
func (r *Result) WriteFrameworksCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"time_s", "framework", "share", "cpu_share", "mem_share", "tasks"})
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }
	for _, s := range r.Shares {
		_ = cw.Write([]string{seconds(s.At), s.Framework, f(s.Share), f(s.CPUShare), f(s.MemShare), strconv.Itoa(s.Tasks)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteSummaryJSON writes the summary, indented.
func (r *Result) WriteSummaryJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.Summary)
}

// WriteDir writes jobs.csv, frameworks.csv and summary.json into dir,
// creating it if needed.
func (r *Result) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{{"jobs.csv", r.WriteJobsCSV}, {"frameworks.csv", r.WriteFrameworksCSV}, {"summary.json", r.WriteSummaryJSON}} {
		if err := writeFile(filepath.Join(dir, f.name), f.write); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(fh)
	if err := write(bw); err != nil {
		fh.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		fh.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return fh.Close()
}

// SplitJobs deals jobs round-robin to n frameworks, keeping their order.
func SplitJobs(jobs []traces.Job, n int) [][]traces.Job {
	out := make([][]traces.Job, n)
	for i, j := range jobs {
		out[i%n] = append(out[i%n], j)
	}
	return out
}
