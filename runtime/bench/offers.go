package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// OffersConfig describes an offer-latency benchmark: a cluster kept busy
// for a while at a load set by its slots and its tasks' durations.
type OffersConfig struct {
	Agents     int
	Frameworks int // default 2
	// Duration is the measured window; Warmup precedes it (default: the
	// task durations' mean, at least 1 s, so the first wave of launches,
	// all at once, is not measured).
	Duration, Warmup time.Duration
	// TaskDurations is what each no-op task runs for. Default
	// normal:2s,500ms.
	TaskDurations Dist
	// AgentResources default cpus:2;mem:2048 (two slots of the default
	// task); TaskResources default DefaultTaskResources.
	AgentResources mezzo.Resources
	TaskResources  mezzo.Resources
	AgentsPerConn  int
	Seed           uint64
	// Master configures the master; ServerOptions may carry interceptors
	// (tests inject delays there).
	Master master.Config
	// Timeout bounds start-up (registration of the agents). Default 5 min.
	Timeout time.Duration
	Logger  *slog.Logger
}

func (c *OffersConfig) withDefaults() error {
	if c.Frameworks == 0 {
		c.Frameworks = 2
	}
	if c.TaskDurations.Kind == "" {
		c.TaskDurations = Dist{Kind: "normal", Mean: 2 * time.Second, Stddev: 500 * time.Millisecond}
	}
	if c.Warmup <= 0 {
		c.Warmup = max(c.TaskDurations.Mean, time.Second)
	}
	if c.AgentResources.IsEmpty() {
		c.AgentResources = mezzo.MustParseResources("cpus:2;mem:2048")
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
	case c.Duration <= 0:
		return fmt.Errorf("bench: --duration is %v; need a positive window", c.Duration)
	case c.TaskDurations.Mean <= 0:
		return fmt.Errorf("bench: task durations %s have mean 0; the load would be unbounded", c.TaskDurations)
	case fits(c.AgentResources, c.TaskResources, 1) == 0:
		return fmt.Errorf("bench: a task (%s) does not fit on an agent (%s)", c.TaskResources, c.AgentResources)
	}
	return nil
}

// OffersResult is what an offer-latency benchmark measured over its
// window. See the package documentation for how latencies are taken.
type OffersResult struct {
	Benchmark      string  `json:"benchmark"` // "offers"
	Agents         int     `json:"agents"`
	Frameworks     int     `json:"frameworks"`
	DurationS      float64 `json:"duration_s"`
	WarmupS        float64 `json:"warmup_s"`
	TaskDurations  string  `json:"task_durations"`
	AgentResources string  `json:"agent_resources"`
	TaskResources  string  `json:"task_resources"`
	Policy         string  `json:"policy"`
	// Slots is how many tasks the cluster holds at once; OfferedLoad is
	// Slots over the mean task duration, the launch rate the frameworks
	// ask for when every freed slot is reused at once.
	Slots       int     `json:"slots"`
	OfferedLoad float64 `json:"offered_load_tasks_per_s"`

	OfferLatency  Quantiles `json:"offer_latency"`
	LaunchLatency Quantiles `json:"launch_latency"`
	OffersPerS    float64   `json:"offers_per_s"`
	TasksPerS     float64   `json:"tasks_per_s"`

	// Allocation cycles run by the master in the window.
	Cycles      uint64  `json:"alloc_cycles"`
	CycleMeanMS float64 `json:"alloc_cycle_mean_ms"`
	CycleMaxMS  float64 `json:"alloc_cycle_max_ms"`
	// MasterBusy is the fraction of the window the master's loop spent
	// running messages and allocation cycles (master.LoopStats);
	// MasterMSPerTask that busy time per task launched: the master's own
	// cost, apart from the agents and frameworks in this process.
	MasterBusy      float64 `json:"master_busy"`
	MasterMSPerTask float64 `json:"master_ms_per_task"`
	// ProcessCPUS is the whole process's CPU over the window (master,
	// agents, frameworks, gRPC on both sides); CPUPerTaskMS per task.
	ProcessCPUS  float64 `json:"process_cpu_s"`
	CPUPerTaskMS float64 `json:"cpu_per_task_ms"`
	// HeapBytes is the live heap at the end of the window (whole process);
	// AgentHeapBytes the heap per registered agent (see Cluster).
	HeapBytes       float64 `json:"heap_bytes"`
	AgentHeapBytes  float64 `json:"agent_heap_bytes"`
	AgentGoroutines float64 `json:"agent_goroutines"`
	// LoadAvg is the machine's one-minute load average at the end (other
	// work on the machine inflates latencies; compare runs made alike).
	LoadAvg float64  `json:"load_avg"`
	Errors  []string `json:"errors,omitempty"`
}

// RunOffers starts a cluster, runs the offer-latency benchmark and stops
// the cluster.
func RunOffers(ctx context.Context, cfg OffersConfig) (OffersResult, error) {
	if err := cfg.withDefaults(); err != nil {
		return OffersResult{}, err
	}
	rec := newRecorder(1<<62, cfg.TaskResources, nil)
	startCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c, err := StartCluster(startCtx, ClusterConfig{
		Agents: cfg.Agents, AgentResources: cfg.AgentResources, AgentsPerConn: cfg.AgentsPerConn,
		Master: cfg.Master, Logger: cfg.Logger, OnTerminalUpdate: rec.freedAt,
	})
	if err != nil {
		return OffersResult{}, err
	}
	defer c.Stop()
	return runOffers(ctx, cfg, c, rec)
}

func runOffers(ctx context.Context, cfg OffersConfig, c *Cluster, rec *recorder) (OffersResult, error) {
	snap, err := c.Master.Snapshot(ctx)
	if err != nil {
		return OffersResult{}, err
	}
	slots := cfg.Agents * fits(cfg.AgentResources, cfg.TaskResources, 1<<30)
	res := OffersResult{
		Benchmark: "offers", Agents: c.Agents(), Frameworks: cfg.Frameworks,
		DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(), TaskDurations: cfg.TaskDurations.String(),
		AgentResources: cfg.AgentResources.String(), TaskResources: cfg.TaskResources.String(), Policy: snap.Policy,
		Slots: slots, OfferedLoad: float64(slots) / cfg.TaskDurations.Mean.Seconds(),
		AgentHeapBytes: c.AgentHeapBytes, AgentGoroutines: c.AgentGoroutines,
	}
	start := time.Now()
	from, to := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	rec.window(from, to)
	drivers := make([]*driver.Driver, 0, cfg.Frameworks)
	defer func() {
		for _, d := range drivers {
			_ = d.Stop(false)
		}
	}()
	for i := 0; i < cfg.Frameworks; i++ {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		l := &launcher{name: fmt.Sprintf("offers%d", i), quota: 1 << 62, need: cfg.TaskResources, rec: rec,
			sample: func() time.Duration { return cfg.TaskDurations.Sample(rng) }}
		d, err := driver.New(driver.Config{Master: c.Addr, Framework: mezzo.FrameworkInfo{Name: l.name}, Seed: uint64(i), Logger: cfg.Logger}, l)
		if err != nil {
			return res, err
		}
		if err := d.Start(ctx); err != nil {
			return res, err
		}
		drivers = append(drivers, d)
	}
	if err := sleepUntil(ctx, from); err != nil {
		return res, err
	}
	cpu0, loop0 := cpuTime(), c.Master.LoopStats()
	if err := sleepUntil(ctx, to); err != nil {
		return res, err
	}
	cpu, loop := cpuTime()-cpu0, c.Master.LoopStats().Sub(loop0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapBytes = float64(ms.HeapAlloc)
	res.LoadAvg = loadAvg()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	window := cfg.Duration.Seconds()
	res.OfferLatency, res.LaunchLatency = quantiles(rec.offerLat), quantiles(rec.launchLat)
	res.OffersPerS = float64(rec.offersInWindow) / window
	res.TasksPerS = float64(rec.runningInWin) / window
	res.Cycles = loop.Cycles
	if loop.Cycles > 0 {
		res.CycleMeanMS = msOf(loop.CycleTime) / float64(loop.Cycles)
	}
	res.CycleMaxMS = msOf(loop.MaxCycle)
	res.MasterBusy = loop.Busy().Seconds() / window
	res.ProcessCPUS = cpu.Seconds()
	if rec.runningInWin > 0 {
		res.MasterMSPerTask = msOf(loop.Busy()) / float64(rec.runningInWin)
		res.CPUPerTaskMS = msOf(cpu) / float64(rec.runningInWin)
	}
	res.Errors = append([]string(nil), rec.errors...)
	return res, nil
}

func msOf(d time.Duration) float64 { return ms(d) }

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// loadAvg is the one-minute load average, 0 where /proc is missing.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	_, _ = fmt.Sscan(string(b), &l)
	return l
}

// BenchName is the Go benchmark name of a result, without the
// GOMAXPROCS suffix: BenchmarkOffers/agents=N/frameworks=F.
func (r OffersResult) BenchName() string {
	return fmt.Sprintf("BenchmarkOffers/agents=%d/frameworks=%d", r.Agents, r.Frameworks)
}

// WriteBenchFormat writes the result as one line of Go benchmark output
// (one iteration, the figures as named metrics), so benchstat compares
// runs: offer and launch latency quantiles in ms, offers/s, tasks/s,
// allocation cycle mean and max, master busy ms per task, process CPU
// per task, heap.
func (r OffersResult) WriteBenchFormat(w io.Writer) error {
	metrics := []struct {
		v    float64
		unit string
	}{
		{r.OfferLatency.P50, "offer-p50-ms"}, {r.OfferLatency.P90, "offer-p90-ms"},
		{r.OfferLatency.P99, "offer-p99-ms"}, {r.OfferLatency.Max, "offer-max-ms"},
		{r.LaunchLatency.P50, "launch-p50-ms"}, {r.LaunchLatency.P99, "launch-p99-ms"},
		{r.OffersPerS, "offers/s"}, {r.TasksPerS, "tasks/s"},
		{r.CycleMeanMS, "cycle-mean-ms"}, {r.CycleMaxMS, "cycle-max-ms"},
		{r.MasterMSPerTask, "master-ms/task"}, {r.CPUPerTaskMS, "cpu-ms/task"},
		{r.HeapBytes, "heap-B"}, {r.AgentHeapBytes, "heap-B/agent"},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s-%d\t1", r.BenchName(), runtime.GOMAXPROCS(0))
	for _, m := range metrics {
		fmt.Fprintf(&b, "\t%.4g %s", m.v, m.unit)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTable prints the result for people.
func (r OffersResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}
	row("benchmark", "offers: %d agents (%s), %d frameworks, tasks %s (%s), policy %s",
		r.Agents, r.AgentResources, r.Frameworks, r.TaskDurations, r.TaskResources, r.Policy)
	row("window", "%.1fs after %.1fs warm-up\t%d slots, offered load %.0f tasks/s", r.DurationS, r.WarmupS, r.Slots, r.OfferedLoad)
	lat := func(name string, q Quantiles) {
		row(name, "p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\t%d samples", q.P50, q.P90, q.P99, q.Max, q.Samples)
	}
	lat("offer latency", r.OfferLatency)
	lat("launch latency", r.LaunchLatency)
	row("offers/s, tasks/s", "%.0f, %.0f", r.OffersPerS, r.TasksPerS)
	row("allocation cycles", "%d, mean %.3fms, max %.3fms", r.Cycles, r.CycleMeanMS, r.CycleMaxMS)
	row("master loop", "%.1f%% busy\t%.4fms per task", 100*r.MasterBusy, r.MasterMSPerTask)
	row("CPU (whole process)", "%.2fs\t%.4fms per task", r.ProcessCPUS, r.CPUPerTaskMS)
	row("memory", "%.1f MiB heap\t%.1f KiB and %.1f goroutines per agent", r.HeapBytes/(1<<20), r.AgentHeapBytes/1024, r.AgentGoroutines)
	row("load average", "%.2f", r.LoadAvg)
	for _, e := range r.Errors {
		row("error", "%s", e)
	}
	return tw.Flush()
}
