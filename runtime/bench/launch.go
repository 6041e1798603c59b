package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// Defaults of LaunchConfig.
var (
	DefaultAgentResources = mezzo.MustParseResources("cpus:8;mem:8192")
	DefaultTaskResources  = mezzo.MustParseResources("cpus:1;mem:1024")
)

// LaunchConfig describes one launch benchmark. Zero fields take the
// defaults noted.
type LaunchConfig struct {
	Agents     int
	Frameworks int // default 1
	Tasks      int // in total, split evenly between the frameworks
	// TaskDuration is how long each no-op task runs on its emulated agent
	// (0: it finishes as soon as its RUNNING update is acknowledged).
	TaskDuration time.Duration
	// AgentResources default DefaultAgentResources; TaskResources default
	// DefaultTaskResources.
	AgentResources mezzo.Resources
	TaskResources  mezzo.Resources
	// AgentsPerConn: see ClusterConfig. Default 100.
	AgentsPerConn int
	// Master configures the master (policy, intervals); Listen is forced
	// to loopback port 0 when empty.
	Master master.Config
	// Timeout bounds the launch phase. Default 5 minutes.
	Timeout time.Duration
	// Progress, when set, is told how many tasks have ended so far. It is
	// called from framework callbacks: keep it quick.
	Progress func(ended, total int)
	// Logger receives the master's, agents' and drivers' logs; nil
	// discards them.
	Logger *slog.Logger
}

func (c *LaunchConfig) withDefaults() error {
	if c.Frameworks == 0 {
		c.Frameworks = 1
	}
	if c.AgentResources.IsEmpty() {
		c.AgentResources = DefaultAgentResources
	}
	if c.TaskResources.IsEmpty() {
		c.TaskResources = DefaultTaskResources
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Agents <= 0:
		return fmt.Errorf("bench: --agents is %d; need at least 1", c.Agents)
	case c.Frameworks < 0:
		return fmt.Errorf("bench: --frameworks is %d; need at least 1", c.Frameworks)
	case c.Tasks < c.Frameworks:
		return fmt.Errorf("bench: --tasks is %d; need at least one per framework (%d)", c.Tasks, c.Frameworks)
	case c.TaskDuration < 0:
		return fmt.Errorf("bench: negative task duration %v", c.TaskDuration)
	case fits(c.AgentResources, c.TaskResources, 1) == 0:
		return fmt.Errorf("bench: a task (%s) does not fit on an agent (%s)", c.TaskResources, c.AgentResources)
	}
	return nil
}

// Quantiles summarise a latency distribution, in milliseconds.
type Quantiles struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

// LaunchResult is what one launch benchmark measured. See the package
// documentation for how each figure is taken.
type LaunchResult struct {
	Benchmark      string  `json:"benchmark"` // "launch"
	Agents         int     `json:"agents"`
	Frameworks     int     `json:"frameworks"`
	Tasks          int     `json:"tasks"`
	TaskDurationMS float64 `json:"task_duration_ms"`
	AgentResources string  `json:"agent_resources"`
	TaskResources  string  `json:"task_resources"`
	Policy         string  `json:"policy"`

	// ElapsedSeconds runs from starting the frameworks to the last task's
	// end at its scheduler; TasksPerSecond is Tasks over it.
	ElapsedSeconds float64 `json:"elapsed_s"`
	TasksPerSecond float64 `json:"tasks_per_s"`
	// LaunchSeconds runs from the first accept to the last TASK_RUNNING at
	// a scheduler; LaunchesPerSecond is Tasks over it.
	LaunchSeconds     float64 `json:"launch_s"`
	LaunchesPerSecond float64 `json:"launches_per_s"`
	// LaunchLatency is accept sent → TASK_RUNNING at the scheduler, per
	// task.
	LaunchLatency Quantiles `json:"launch_latency"`
	// OfferLatency is a task's terminal update leaving its agent → the
	// next offer of that agent's resources at a framework.
	OfferLatency Quantiles `json:"offer_latency"`
	Offers       int       `json:"offers"`
	Accepts      int       `json:"accepts"`

	Running  int            `json:"running"`  // tasks that reached TASK_RUNNING
	Finished int            `json:"finished"` // tasks that reached TASK_FINISHED
	Updates  map[string]int `json:"updates"`  // updates seen by schedulers, by state
	// Duplicates counts tasks whose scheduler saw RUNNING or FINISHED
	// more than once (updates resent because the acknowledgement was
	// late), Incomplete tasks that missed RUNNING or FINISHED or ended
	// otherwise.
	Duplicates int      `json:"duplicates"`
	Incomplete int      `json:"incomplete"`
	Errors     []string `json:"errors,omitempty"`

	// AgentHeapBytes and AgentGoroutines: see Cluster.
	AgentHeapBytes  float64 `json:"agent_heap_bytes"`
	AgentGoroutines float64 `json:"agent_goroutines"`
	// CPUSeconds is the whole process's user+system CPU time over
	// ElapsedSeconds (master, agents and frameworks share the process);
	// CPUUtilisation is CPUSeconds/ElapsedSeconds (2.0 is two cores busy).
	CPUSeconds     float64 `json:"cpu_s"`
	CPUPerTaskMS   float64 `json:"cpu_per_task_ms"`
	CPUUtilisation float64 `json:"cpu_utilisation"`

	// StartTotals and EndTotals are the allocator's totals before the
	// frameworks start and after every task ended and every offer was
	// answered; Conserved says the end has nothing offered or used and
	// all of the start's resources free.
	StartTotals alloc.Totals `json:"-"`
	EndTotals   alloc.Totals `json:"-"`
	Conserved   bool         `json:"conserved"`
}

// RunLaunch starts a cluster, runs the launch benchmark on it and stops it.
func RunLaunch(ctx context.Context, cfg LaunchConfig) (LaunchResult, error) {
	if err := cfg.withDefaults(); err != nil {
		return LaunchResult{}, err
	}
	rec := newRecorder(cfg.Tasks, cfg.TaskResources, cfg.Progress)
	startCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c, err := StartCluster(startCtx, ClusterConfig{
		Agents: cfg.Agents, AgentResources: cfg.AgentResources, AgentsPerConn: cfg.AgentsPerConn,
		Master: cfg.Master, Logger: cfg.Logger, OnTerminalUpdate: func(a mezzo.AgentID, t mezzo.TaskID, at time.Time) { rec.freedAt(a, t, at) },
	})
	if err != nil {
		return LaunchResult{}, err
	}
	defer c.Stop()
	return runLaunch(ctx, cfg, c, rec)
}

func runLaunch(ctx context.Context, cfg LaunchConfig, c *Cluster, rec *recorder) (LaunchResult, error) {
	start, err := c.Master.Snapshot(ctx)
	if err != nil {
		return LaunchResult{}, err
	}
	res := LaunchResult{
		Benchmark: "launch", Agents: c.Agents(), Frameworks: cfg.Frameworks, Tasks: cfg.Tasks,
		TaskDurationMS: ms(cfg.TaskDuration), AgentResources: cfg.AgentResources.String(), TaskResources: cfg.TaskResources.String(),
		Policy: start.Policy, AgentHeapBytes: c.AgentHeapBytes, AgentGoroutines: c.AgentGoroutines, StartTotals: start.Totals,
	}

	cpu0 := cpuTime()
	t0 := time.Now()
	drivers := make([]*driver.Driver, 0, cfg.Frameworks)
	defer func() {
		for _, d := range drivers {
			_ = d.Stop(false)
		}
	}()
	for i := 0; i < cfg.Frameworks; i++ {
		quota := cfg.Tasks / cfg.Frameworks
		if i < cfg.Tasks%cfg.Frameworks {
			quota++
		}
		l := &launcher{name: fmt.Sprintf("bench%d", i), quota: quota, need: cfg.TaskResources, duration: cfg.TaskDuration, rec: rec}
		d, err := driver.New(driver.Config{Master: c.Addr, Framework: mezzo.FrameworkInfo{Name: l.name}, Seed: uint64(i), Logger: cfg.Logger}, l)
		if err != nil {
			return res, err
		}
		if err := d.Start(ctx); err != nil {
			return res, err
		}
		drivers = append(drivers, d)
	}
	timeout := time.NewTimer(cfg.Timeout)
	defer timeout.Stop()
	select {
	case <-rec.done:
	case <-ctx.Done():
		return res, fmt.Errorf("bench: interrupted with %s", rec.summary())
	case <-timeout.C:
		return res, fmt.Errorf("bench: timed out after %v with %s", cfg.Timeout, rec.summary())
	}
	elapsed := time.Since(t0)
	cpu := cpuTime() - cpu0

	// Offers made after the last task ended are still being declined;
	// wait for the allocator to settle before comparing its totals.
	end, err := settle(ctx, c.Master, 10*time.Second)
	if err != nil {
		return res, err
	}
	res.EndTotals = end.Totals
	res.Conserved = end.Check == "" && end.Totals.Offered.IsEmpty() && end.Totals.Used.IsEmpty() &&
		end.Totals.Free.Equal(start.Totals.Free) && end.Totals.Total.Equal(start.Totals.Total) && end.Totals.Offers == 0

	rec.mu.Lock()
	defer rec.mu.Unlock()
	res.ElapsedSeconds = elapsed.Seconds()
	res.TasksPerSecond = float64(cfg.Tasks) / elapsed.Seconds()
	if launch := rec.lastRunning.Sub(rec.firstAccept); launch > 0 {
		res.LaunchSeconds = launch.Seconds()
		res.LaunchesPerSecond = float64(rec.running) / launch.Seconds()
	}
	res.LaunchLatency = quantiles(rec.launchLat)
	res.OfferLatency = quantiles(rec.offerLat)
	res.Offers, res.Accepts = rec.offersSeen, rec.accepts
	res.Running = rec.running
	res.Updates = map[string]int{}
	for st, n := range rec.byState {
		res.Updates[st.String()] = n
	}
	for _, tc := range rec.states {
		if tc.finished > 0 {
			res.Finished++
		}
		if tc.running > 1 || tc.finished > 1 {
			res.Duplicates++
		}
		if tc.running == 0 || tc.finished == 0 || tc.other != 0 {
			res.Incomplete++
		}
	}
	res.Errors = append([]string(nil), rec.errors...)
	res.CPUSeconds = cpu.Seconds()
	res.CPUPerTaskMS = ms(cpu) / float64(cfg.Tasks)
	res.CPUUtilisation = cpu.Seconds() / elapsed.Seconds()
	return res, nil
}

// settle waits until nothing is offered or used, or the wait is over, and
// returns the last snapshot either way.
func settle(ctx context.Context, m *master.Master, wait time.Duration) (master.Snapshot, error) {
	deadline := time.Now().Add(wait)
	for {
		s, err := m.Snapshot(ctx)
		if err != nil {
			return s, err
		}
		if (s.Totals.Offers == 0 && s.Totals.Used.IsEmpty()) || time.Now().After(deadline) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (r *recorder) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := fmt.Sprintf("%d of %d tasks running, %d ended", r.running, r.total, r.ended)
	if len(r.errors) > 0 {
		s += "; first error: " + r.errors[0]
	}
	return s
}

func quantiles(d []time.Duration) Quantiles {
	q := Quantiles{Samples: len(d)}
	if len(d) == 0 {
		return q
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(p float64) float64 {
		// Nearest rank: the smallest sample with at least p of them at or
		// below it.
		i := int(float64(len(s))*p+0.999999) - 1
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	q.P50, q.P90, q.P99, q.Max = at(0.50), at(0.90), at(0.99), ms(s[len(s)-1])
	return q
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
