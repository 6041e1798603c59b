package experiments

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/sim"
)

// ScalabilityRow is one point of the simulated scalability experiment:
// the same shape as the real runtime's (runtime/bench.RunScalability),
// in virtual time with the real allocator. OverheadMS is virtual time
// (message latency, waiting for a slot to free, allocation batching);
// WallS is how long the point took to simulate.
type ScalabilityRow struct {
	Agents      int       `json:"agents"`
	Frameworks  int       `json:"frameworks"`
	Slots       int       `json:"slots"`
	Busy        float64   `json:"busy"`
	OverheadMS  float64   `json:"overhead_ms"`
	OverheadsMS []float64 `json:"overheads_ms"`
	WallS       float64   `json:"wall_s"`
}

// ScalabilityConfig is the shape of a simulated point; zero fields take
// the real experiment's defaults.
type ScalabilityConfig struct {
	Agents, Frameworks, Probes int
	TaskMean                   time.Duration // exponential task durations; default 30 s
	Fill                       time.Duration // virtual time before probing; default 4 × TaskMean
	Seed                       uint64
}

// SimulateScalability runs one point: Frameworks fill Agents agents of
// two slots (cpus:2;mem:2048, tasks cpus:1;mem:1024) under DRF with
// exponential tasks; after Fill, Probes frameworks, one after another,
// register and launch one task; the row has the median
// register → TASK_RUNNING in virtual time (the task runs 1 s, so RUNNING
// is not overtaken by its end; its own time is not in the figure).
func SimulateScalability(cfg ScalabilityConfig) (ScalabilityRow, error) {
	if cfg.Frameworks == 0 {
		cfg.Frameworks = 200
	}
	if cfg.Probes == 0 {
		cfg.Probes = 3
	}
	if cfg.TaskMean == 0 {
		cfg.TaskMean = 30 * time.Second
	}
	if cfg.Fill == 0 {
		cfg.Fill = 4 * cfg.TaskMean
	}
	start := time.Now()
	row := ScalabilityRow{Agents: cfg.Agents, Frameworks: cfg.Frameworks, Slots: 2 * cfg.Agents}
	agentRes, taskRes := mezzo.MustParseResources("cpus:2;mem:2048"), mezzo.MustParseResources("cpus:1;mem:1024")
	c, err := sim.NewCluster(sim.ClusterConfig{Agents: cfg.Agents, Resources: agentRes})
	if err != nil {
		return row, err
	}
	dfs, err := sim.NewDFS(c, rand.New(rand.NewPCG(cfg.Seed, 0)))
	if err != nil {
		return row, err
	}
	pol, err := alloc.DefaultRegistry().New("drf", alloc.PolicyOptions{})
	if err != nil {
		return row, err
	}
	a, err := alloc.New(alloc.Config{Policy: pol})
	if err != nil {
		return row, err
	}
	eng := sim.NewEngine()
	running := 0
	w, err := sim.NewWorld(eng, a, c, dfs, sim.WorldConfig{}, sim.Hooks{
		TaskLaunched: func(mezzo.FrameworkID, *mezzo.TaskInfo, mezzo.AgentID, sim.Level) { running++ },
		TaskEnded: func(mezzo.FrameworkID, *mezzo.TaskInfo, mezzo.AgentID, sim.Level, mezzo.TaskState) {
			running--
		},
	})
	if err != nil {
		return row, err
	}
	if err := w.Start(); err != nil {
		return row, err
	}
	defer w.Stop()
	for i := 0; i < cfg.Frameworks; i++ {
		f := &filler{name: fmt.Sprintf("fill%d", i), need: taskRes, mean: cfg.TaskMean, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i+1)))}
		if _, err := w.AddFramework(mezzo.FrameworkInfo{Name: f.name}, f); err != nil {
			return row, err
		}
	}
	eng.RunFor(cfg.Fill)
	row.Busy = float64(running) / float64(row.Slots)
	for i := 0; i < cfg.Probes; i++ {
		p := &simProbe{need: taskRes}
		at := eng.Now()
		if _, err := w.AddFramework(mezzo.FrameworkInfo{Name: fmt.Sprintf("probe%d", i)}, p); err != nil {
			return row, err
		}
		for p.running.IsZero() && eng.Now().Sub(at) < time.Minute {
			eng.RunFor(time.Millisecond)
		}
		if p.running.IsZero() {
			return row, fmt.Errorf("scalability: probe %d not running a minute after registering (%d agents)", i, cfg.Agents)
		}
		row.OverheadsMS = append(row.OverheadsMS, float64(p.running.Sub(at))/float64(time.Millisecond))
		eng.RunFor(5 * time.Second)
	}
	if err := w.Err(); err != nil {
		return row, err
	}
	s := append([]float64(nil), row.OverheadsMS...)
	sort.Float64s(s)
	row.OverheadMS = s[len(s)/2]
	row.WallS = time.Since(start).Seconds()
	return row, nil
}

// filler launches a task of exponential duration on every slot it is
// offered, forever.
type filler struct {
	name string
	need mezzo.Resources
	mean time.Duration
	rng  *rand.Rand
	seq  int
}

func (f *filler) Registered(mezzo.Driver, mezzo.FrameworkID) {}
func (f *filler) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	for _, o := range offers {
		var tasks []mezzo.TaskInfo
		left := o.Resources
		for left.Contains(f.need) {
			left = left.Sub(f.need)
			f.seq++
			tasks = append(tasks, mezzo.TaskInfo{ID: mezzo.TaskID(fmt.Sprintf("%s-%d", f.name, f.seq)), AgentID: o.AgentID,
				Resources: f.need, Duration: time.Duration(f.rng.ExpFloat64() * float64(f.mean))})
		}
		if len(tasks) == 0 {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{})
			continue
		}
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{})
	}
}
func (f *filler) OfferRescinded(mezzo.Driver, mezzo.OfferID)                             {}
func (f *filler) StatusUpdate(mezzo.Driver, mezzo.TaskStatus)                            {}
func (f *filler) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (f *filler) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (f *filler) Error(mezzo.Driver, string)                                             {}

// simProbe launches one zero-length task on its first offer that fits.
type simProbe struct {
	need     mezzo.Resources
	launched bool
	running  time.Time
}

func (p *simProbe) Registered(mezzo.Driver, mezzo.FrameworkID) {}
func (p *simProbe) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	for _, o := range offers {
		if p.launched || !o.Resources.Contains(p.need) {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Hour})
			continue
		}
		p.launched = true
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{{ID: "probe", AgentID: o.AgentID, Resources: p.need, Duration: time.Second}}, mezzo.Filters{Refuse: time.Hour})
	}
}
func (p *simProbe) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}
func (p *simProbe) StatusUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	if st.State == mezzo.TaskRunning && p.running.IsZero() {
		p.running = d.Now()
	}
}
func (p *simProbe) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (p *simProbe) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (p *simProbe) Error(mezzo.Driver, string)                                             {}
