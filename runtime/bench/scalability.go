package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// ScalabilityConfig is one point of the scalability experiment (the Mesos
// paper's Figure 10): Frameworks keep Agents busy with tasks of
// TaskDurations; then probe frameworks, one at a time, each subscribe and
// launch one task, and the overhead is measured.
type ScalabilityConfig struct {
	Agents     int
	Frameworks int // default 200
	// TaskDurations default exp:30s (the paper's 30 s average).
	TaskDurations Dist
	// AgentResources default cpus:2;mem:2048 (two slots: at most two
	// tasks per agent); TaskResources default DefaultTaskResources.
	AgentResources mezzo.Resources
	TaskResources  mezzo.Resources
	// Fill is the fraction of slots that must be busy before probing
	// (default 0.95); FillTimeout bounds the wait (default 2 min), after
	// which the probes run on whatever is busy (the row says how much).
	Fill        float64
	FillTimeout time.Duration
	// Probes is how many probe frameworks run (default 3); the overhead
	// reported is their median.
	Probes int
	// ProbeTimeout is how long a probe may take to run its task (default
	// 1 min); one that does not is counted in the row's
	// ProbesUnfinished instead of failing the point.
	ProbeTimeout time.Duration
	// Window is how long the master's loop is watched, busy, before the
	// probes, to take its CPU per decision (default 3 s).
	Window        time.Duration
	AgentsPerConn int
	Seed          uint64
	Master        master.Config
	// MasterCommand and MasterLog run the master as a child process
	// (ClusterConfig.MasterCommand): the row then has the master's own
	// CPU per decision and resident memory.
	MasterCommand []string
	MasterLog     io.Writer
	// MasterProfile, with MasterCommand, is where the child master writes
	// a CPU profile of its run.
	MasterProfile string
	// Timeout bounds start-up; default 10 min.
	Timeout time.Duration
	Logger  *slog.Logger
	// Progress, when set, hears what the point is doing.
	Progress func(stage string)
	// SteadyProfile, when set, receives a CPU profile of the busy cluster
	// only (the Window and the probes), without the start-up and the fill
	// that dominate a whole-run profile. It cannot be used while another
	// CPU profile runs (--cpuprofile).
	SteadyProfile io.Writer
}

func (c *ScalabilityConfig) withDefaults() error {
	if c.Frameworks == 0 {
		c.Frameworks = 200
	}
	if c.TaskDurations.Kind == "" {
		c.TaskDurations = Dist{Kind: "exp", Mean: 30 * time.Second}
	}
	if c.AgentResources.IsEmpty() {
		c.AgentResources = mezzo.MustParseResources("cpus:2;mem:2048")
	}
	if c.TaskResources.IsEmpty() {
		c.TaskResources = DefaultTaskResources
	}
	if c.Fill == 0 {
		c.Fill = 0.95
	}
	if c.FillTimeout <= 0 {
		c.FillTimeout = 2 * time.Minute
	}
	if c.Probes <= 0 {
		c.Probes = 3
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = time.Minute
	}
	if c.Window <= 0 {
		c.Window = 3 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	switch {
	case c.Agents <= 0:
		return fmt.Errorf("bench: scalability with %d agents; need at least 1", c.Agents)
	case c.Frameworks < 0:
		return fmt.Errorf("bench: %d frameworks; need at least 1", c.Frameworks)
	case c.Fill < 0 || c.Fill > 1:
		return fmt.Errorf("bench: fill %.2f; want a fraction in [0, 1]", c.Fill)
	case fits(c.AgentResources, c.TaskResources, 1) == 0:
		return fmt.Errorf("bench: a task (%s) does not fit on an agent (%s)", c.TaskResources, c.AgentResources)
	}
	return nil
}

// ScalabilityRow is one measured point.
type ScalabilityRow struct {
	Agents     int `json:"agents"`
	Frameworks int `json:"frameworks"`
	Slots      int `json:"slots"`
	// Busy is the fraction of slots running tasks when probing began.
	Busy float64 `json:"busy"`
	// OverheadMS is the median over the probes of subscribe → offer →
	// launch → TASK_RUNNING at the probe's scheduler; the probe's task is
	// a no-op whose own time is zero, so nothing is subtracted.
	OverheadMS float64 `json:"overhead_ms"`
	// ProbesUnfinished is how many probes did not run their task within
	// ProbeTimeout; they are left out of the medians, and when none ran,
	// OverheadMS is ProbeTimeout: a lower bound.
	ProbesUnfinished int `json:"probes_unfinished"`
	// OfferMS is the median subscribe → first offer part of it.
	OfferMS     float64   `json:"offer_ms"`
	OverheadsMS []float64 `json:"overheads_ms"`
	// MasterMSPerDecision is the master loop's busy time per task placed,
	// over Window while the fillers keep the cluster busy.
	MasterMSPerDecision float64 `json:"master_ms_per_decision"`
	// MasterCPUMSPerDecision is the master process's CPU time per task
	// placed over the same window (master in a child process only).
	MasterCPUMSPerDecision float64 `json:"master_cpu_ms_per_decision"`
	// InboxWaitMS is the mean wait of a message in the master's inbox
	// before the loop ran it, over the window (child process only).
	InboxWaitMS float64 `json:"inbox_wait_ms"`
	// AgentsActive is how many agents the master counted as registered and
	// connected after the probes; fewer than Agents means the master
	// removed agents it did not hear from within its ping timeout (an
	// emulation that cannot keep up).
	AgentsActive int `json:"agents_active"`
	// MasterRSSBytes is the child master's resident memory while busy.
	MasterRSSBytes float64 `json:"master_rss_bytes"`
	// CycleMeanMS and CycleMaxMS are the allocation cycles in that window
	// (CycleMaxMS in process only).
	CycleMeanMS float64 `json:"alloc_cycle_mean_ms"`
	CycleMaxMS  float64 `json:"alloc_cycle_max_ms"`
	// AgentHeapBytes is the heap per agent (master side included) and
	// HeapBytes the whole process's live heap while busy.
	AgentHeapBytes float64 `json:"agent_heap_bytes"`
	HeapBytes      float64 `json:"heap_bytes"`
	// StartS and FillS are how long registering the agents and filling
	// the cluster took.
	StartS  float64 `json:"start_s"`
	FillS   float64 `json:"fill_s"`
	LoadAvg float64 `json:"load_avg"`
}

// RunScalability measures one point: it starts a cluster of cfg.Agents,
// fills it, probes it and stops it.
func RunScalability(ctx context.Context, cfg ScalabilityConfig) (ScalabilityRow, error) {
	if err := cfg.withDefaults(); err != nil {
		return ScalabilityRow{}, err
	}
	row := ScalabilityRow{Agents: cfg.Agents, Frameworks: cfg.Frameworks}
	rec := newRecorder(1<<62, cfg.TaskResources, nil)
	cfg.Progress(fmt.Sprintf("%d agents: registering", cfg.Agents))
	t0 := time.Now()
	startCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c, err := StartCluster(startCtx, ClusterConfig{
		Agents: cfg.Agents, AgentResources: cfg.AgentResources, AgentsPerConn: cfg.AgentsPerConn,
		Master: cfg.Master, MasterCommand: cfg.MasterCommand, MasterLog: cfg.MasterLog, MasterProfile: cfg.MasterProfile, Logger: cfg.Logger,
	})
	if err != nil {
		return row, err
	}
	defer c.Stop()
	row.StartS = time.Since(t0).Seconds()
	row.AgentHeapBytes = c.AgentHeapBytes
	row.Slots = cfg.Agents * fits(cfg.AgentResources, cfg.TaskResources, 1<<30)

	cfg.Progress(fmt.Sprintf("%d agents: filling %d slots", cfg.Agents, row.Slots))
	t1 := time.Now()
	var drivers []*driver.Driver
	defer func() {
		// Disconnect without tearing down (the cluster stops next): 200
		// teardowns, each killing its tasks one by one, took longer than
		// the measurement.
		var wg sync.WaitGroup
		for _, d := range drivers {
			wg.Add(1)
			go func() { defer wg.Done(); _ = d.Stop(true) }()
		}
		wg.Wait()
	}()
	for i := 0; i < cfg.Frameworks; i++ {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		l := &launcher{name: fmt.Sprintf("fill%d", i), quota: 1 << 62, need: cfg.TaskResources, rec: rec,
			sample: func() time.Duration { return cfg.TaskDurations.Sample(rng) }}
		d, err := driver.New(driver.Config{Master: c.Addr, Framework: mezzo.FrameworkInfo{Name: l.name}, Seed: uint64(i), Logger: cfg.Logger}, l)
		if err != nil {
			return row, err
		}
		if err := d.Start(ctx); err != nil {
			return row, err
		}
		drivers = append(drivers, d)
	}
	want := int(cfg.Fill * float64(row.Slots))
	deadline := time.Now().Add(cfg.FillTimeout)
	for rec.live() < want && time.Now().Before(deadline) {
		if err := sleepUntil(ctx, time.Now().Add(100*time.Millisecond)); err != nil {
			return row, err
		}
	}
	row.FillS = time.Since(t1).Seconds()
	row.Busy = float64(rec.live()) / float64(row.Slots)

	cfg.Progress(fmt.Sprintf("%d agents: watching the master for %v", cfg.Agents, cfg.Window))
	if cfg.SteadyProfile != nil {
		if err := pprof.StartCPUProfile(cfg.SteadyProfile); err != nil {
			return row, fmt.Errorf("bench: steady-state profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	w0, err := c.watch(ctx)
	if err != nil {
		return row, err
	}
	placed0 := rec.started()
	if err := sleepUntil(ctx, time.Now().Add(cfg.Window)); err != nil {
		return row, err
	}
	w1, err := c.watch(ctx)
	if err != nil {
		return row, err
	}
	if placed := rec.started() - placed0; placed > 0 {
		w1.perDecision(w0, placed, &row)
	}
	row.MasterRSSBytes = c.MasterRSS()
	var mstats runtime.MemStats
	runtime.ReadMemStats(&mstats)
	row.HeapBytes = float64(mstats.HeapAlloc)

	var overheads, offers []float64
	for i := 0; i < cfg.Probes; i++ {
		cfg.Progress(fmt.Sprintf("%d agents: probe %d of %d", cfg.Agents, i+1, cfg.Probes))
		o, off, err := probe(ctx, c.Addr, fmt.Sprintf("probe%d", i), cfg.TaskResources, cfg.ProbeTimeout, cfg.Logger)
		if errors.Is(err, errProbeTimeout) {
			row.ProbesUnfinished++
			cfg.Progress(fmt.Sprintf("%d agents: probe %d not running after %v", cfg.Agents, i+1, cfg.ProbeTimeout))
			continue
		}
		if err != nil {
			return row, err
		}
		overheads, offers = append(overheads, ms(o)), append(offers, ms(off))
		// Said as it happens: stopping a large cluster can take minutes.
		cfg.Progress(fmt.Sprintf("%d agents: probe %d running after %.1f ms (first offer %.1f ms)", cfg.Agents, i+1, ms(o), ms(off)))
	}
	row.AgentsActive = c.activeAgents(ctx)
	row.OverheadsMS = overheads
	row.OverheadMS, row.OfferMS = median(overheads), median(offers)
	if len(overheads) == 0 {
		row.OverheadMS = ms(cfg.ProbeTimeout)
	}
	row.LoadAvg = loadAvg()
	return row, nil
}

// probe subscribes a framework that launches one no-op task on its first
// offer that fits, and returns subscribe → TASK_RUNNING and subscribe →
// first offer.
func probe(ctx context.Context, addr, name string, need mezzo.Resources, timeout time.Duration, log *slog.Logger) (total, offer time.Duration, err error) {
	p := &prober{need: need, done: make(chan struct{})}
	d, err := driver.New(driver.Config{Master: addr, Framework: mezzo.FrameworkInfo{Name: name}, Logger: log}, p)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := d.Start(ctx); err != nil {
		return 0, 0, err
	}
	defer func() { _ = d.Stop(false) }()
	select {
	case <-p.done:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(timeout):
		return 0, 0, fmt.Errorf("bench: probe %s not running after %v: %w", name, timeout, errProbeTimeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running.Sub(start), p.offered.Sub(start), nil
}

var errProbeTimeout = errors.New("probe timed out")

// prober is the probe framework.
type prober struct {
	need mezzo.Resources
	done chan struct{}

	mu               sync.Mutex
	offered, running time.Time
	launched         bool
}

func (p *prober) Registered(mezzo.Driver, mezzo.FrameworkID) {}

func (p *prober) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	now := time.Now()
	p.mu.Lock()
	if p.offered.IsZero() {
		p.offered = now
	}
	p.mu.Unlock()
	for _, o := range offers {
		if p.launched || fits(o.Resources, p.need, 1) == 0 {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Minute})
			continue
		}
		p.launched = true
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{{ID: "probe", Name: "probe", AgentID: o.AgentID, Resources: p.need}}, mezzo.Filters{Refuse: time.Minute})
	}
}

func (p *prober) StatusUpdate(_ mezzo.Driver, st mezzo.TaskStatus) {
	if st.State != mezzo.TaskRunning {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running.IsZero() {
		p.running = time.Now()
		close(p.done)
	}
}

func (p *prober) OfferRescinded(mezzo.Driver, mezzo.OfferID)                             {}
func (p *prober) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (p *prober) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (p *prober) Error(mezzo.Driver, string)                                             {}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// masterWatch is a reading of the master's counters: the loop's own in
// process, the process's CPU and metrics in a child.
type masterWatch struct {
	loop    master.LoopStats
	cpu     time.Duration
	metrics map[string]float64
}

func (c *Cluster) watch(ctx context.Context) (masterWatch, error) {
	if c.Master != nil {
		return masterWatch{loop: c.Master.LoopStats()}, nil
	}
	cpu, _ := c.MasterCPU()
	m, err := c.MasterMetrics(ctx)
	if err != nil {
		return masterWatch{}, fmt.Errorf("bench: reading the master's metrics: %w", err)
	}
	return masterWatch{cpu: cpu, metrics: m}, nil
}

// perDecision fills row's per-decision figures for the window from an
// earlier reading w0 to w, in which placed tasks were placed.
func (w masterWatch) perDecision(w0 masterWatch, placed int, row *ScalabilityRow) {
	if w.metrics == nil {
		loop := w.loop.Sub(w0.loop)
		row.MasterMSPerDecision = ms(loop.Busy()) / float64(placed)
		if loop.Cycles > 0 {
			row.CycleMeanMS = ms(loop.CycleTime) / float64(loop.Cycles)
		}
		row.CycleMaxMS = ms(loop.MaxCycle)
		return
	}
	row.MasterCPUMSPerDecision = ms(w.cpu-w0.cpu) / float64(placed)
	delta := func(name string) float64 { return w.metrics[name] - w0.metrics[name] }
	row.MasterMSPerDecision = 1000 * delta("mezzo_master_loop_busy_seconds_total") / float64(placed)
	if n := delta("mezzo_master_allocation_cycle_seconds_count"); n > 0 {
		row.CycleMeanMS = 1000 * delta("mezzo_master_allocation_cycle_seconds_sum") / n
	}
	if n := delta("mezzo_master_loop_queue_seconds_count"); n > 0 {
		row.InboxWaitMS = 1000 * delta("mezzo_master_loop_queue_seconds_sum") / n
	}
}

// activeAgents is the master's count of connected agents (-1 if unread).
func (c *Cluster) activeAgents(ctx context.Context) int {
	if c.Master != nil {
		s, err := c.Master.Snapshot(ctx)
		if err != nil {
			return -1
		}
		return s.Totals.Agents
	}
	m, err := c.MasterMetrics(ctx)
	if err != nil {
		return -1
	}
	return int(m[`mezzo_master_agents{state="active"}`])
}
