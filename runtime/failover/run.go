package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/agent"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// Config sets up one failover run. Zero fields take the defaults noted.
type Config struct {
	// TasksPerAgent fills each agent with this many long tasks (cpus 1,
	// mem 512 each, on agents of cpus 4, mem 8192). Default 2.
	TasksPerAgent int
	// Frameworks share the tasks. Default 2.
	Frameworks int
	// LeaseTTL is the masters' election lease. Default 1 s.
	LeaseTTL time.Duration
	// AgentsPerConn agents share one connection. Default 250.
	AgentsPerConn int
	// PingInterval is the masters' agent ping interval. Default 5 s
	// (Mesos: 15 s); a crashed leader's agents notice at once anyway, as
	// their streams break.
	PingInterval time.Duration
	// Timeout bounds each phase (setup, recovery). Default 2 min.
	Timeout time.Duration
	// Etcd starts the etcd; default InProcessEtcd. The experiment command
	// runs it as a child process (EtcdProcess).
	Etcd   EtcdStarter
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.TasksPerAgent <= 0 {
		c.TasksPerAgent = 2
	}
	if c.Frameworks <= 0 {
		c.Frameworks = 2
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = time.Second
	}
	if c.AgentsPerConn <= 0 {
		c.AgentsPerConn = 250
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 5 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Etcd == nil {
		c.Etcd = InProcessEtcd
	}
}

// Row is one cluster size's measurement. Every time is from the crash.
type Row struct {
	Agents int `json:"agents"`
	Tasks  int `json:"tasks"`
	// RecoverySec: crash → every agent and framework back and the new
	// leader allocating again: the latest of AgentsSec, FrameworksSec and
	// AllocateSec (the master's own clock, not the poll that confirms it).
	RecoverySec float64 `json:"recovery_s"`
	// ConfirmedSec: crash → a poll of the new leader saw every agent,
	// task and framework back and allocation resumed. It lags RecoverySec
	// by the poll's wait behind the loop's work (at 10,000 agents, the
	// first allocation's offers and the fillers' declines).
	ConfirmedSec float64 `json:"confirmed_s"`
	// LeaseSec: crash → etcd deletes the old leader's election key (its
	// lease expired: the TTL less the age of the last renewal, plus up to
	// the 500 ms of etcd's expiry check).
	LeaseSec float64 `json:"lease_s"`
	// DetectSec: crash → standby elected (the lease running out, then the
	// campaign's watch and a lease renewal).
	DetectSec float64 `json:"detect_s"`
	// AgentsSec: crash → the last known agent re-registered.
	AgentsSec float64 `json:"agents_s"`
	// FrameworksSec: crash → every framework re-subscribed (as first seen
	// by polling the new leader).
	FrameworksSec float64 `json:"frameworks_s"`
	// AllocateSec: crash → the new leader's first allocation (the end of
	// its wait for agents).
	AllocateSec float64 `json:"allocate_s"`
	// ReregisterSec: election → allocation resumed with every agent back.
	ReregisterSec float64 `json:"reregister_s"`
	// LostTasks ended during the recovery (should be 0: every task runs
	// on through a master failover).
	LostTasks int `json:"lost_tasks"`
}

// Run measures each size in turn; progress, when set, hears each row.
func Run(ctx context.Context, cfg Config, sizes []int, progress func(Row)) ([]Row, error) {
	var rows []Row
	for _, n := range sizes {
		r, err := RunOne(ctx, cfg, n)
		if err != nil {
			return rows, fmt.Errorf("failover with %d agents: %w", n, err)
		}
		rows = append(rows, r)
		if progress != nil {
			progress(r)
		}
	}
	return rows, nil
}

// RunOne builds a cluster of n agents, crashes its leader and measures
// the recovery.
func RunOne(ctx context.Context, cfg Config, n int) (Row, error) {
	cfg.defaults()
	if n <= 0 {
		return Row{}, fmt.Errorf("%d agents; need at least one", n)
	}
	// etcd, both masters and every agent share this process: a GC every
	// few MB of garbage spends the CPU that lease renewals need. Memory
	// is not what the experiment is short of.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	dir, err := os.MkdirTemp("", "mezzo-failover-")
	if err != nil {
		return Row{}, err
	}
	defer os.RemoveAll(dir)
	endpoints, stopEtcd, err := cfg.Etcd(dir)
	if err != nil {
		return Row{}, err
	}
	defer stopEtcd()
	c, err := startCluster(ctx, cfg, endpoints, n)
	defer c.stop()
	if err != nil {
		return Row{}, err
	}
	return c.crashAndMeasure(ctx, cfg)
}

type cluster struct {
	masters  []*master.Master
	addrs    []string
	conns    []*api.MasterConn
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	drivers  []*driver.Driver
	scheds   []*filler
	agents   int
	tasks    int
	etcd     *clientv3.Client
	stopOnce sync.Once
}

func startCluster(ctx context.Context, cfg Config, endpoints []string, n int) (*cluster, error) {
	runCtx, cancel := context.WithCancel(context.Background())
	c := &cluster{cancel: cancel, agents: n, tasks: n * cfg.TasksPerAgent}
	for i := 0; i < 2; i++ {
		m, err := master.New(master.Config{
			Listen: "127.0.0.1:0", MasterID: fmt.Sprintf("m%d", i+1), Logger: cfg.Logger,
			PingInterval: cfg.PingInterval, AllocationInterval: 250 * time.Millisecond,
			HA: master.HAConfig{Etcd: endpoints, LeaseTTL: cfg.LeaseTTL, RecoveryFraction: 1, RecoveryTimeout: cfg.Timeout},
		})
		if err != nil {
			return c, err
		}
		addr, err := m.Start(runCtx)
		if err != nil {
			return c, err
		}
		c.masters, c.addrs = append(c.masters, m), append(c.addrs, addr)
	}
	var err error
	c.etcd, err = clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return c, err
	}
	deadline := time.Now().Add(cfg.Timeout)
	if _, err := c.waitLeader(ctx, deadline, nil); err != nil {
		return c, err
	}
	res := mezzo.MustParseResources("cpus:4;mem:8192")
	for i := 0; i < n; i++ {
		// Agents join in waves: thousands subscribing in the same instant
		// starve the election's keep-alives (etcd, masters and agents
		// share 2 cores), and a real cluster does not start that way.
		if i > 0 && i%startWave == 0 {
			if err := c.waitAgents(ctx, deadline, i); err != nil {
				return c, err
			}
		}
		if i%cfg.AgentsPerConn == 0 {
			mc, err := api.DialMasters(c.addrs)
			if err != nil {
				return c, err
			}
			c.conns = append(c.conns, mc)
		}
		a, err := agent.New(agent.Config{
			MasterConn: c.conns[len(c.conns)-1], Emulated: true, Resources: res,
			Hostname: fmt.Sprintf("agent-%05d", i), Logger: cfg.Logger,
			ReconnectDelay: 100 * time.Millisecond, ReconnectMax: time.Second, StatusRetry: time.Minute,
		})
		if err != nil {
			return c, err
		}
		c.wg.Add(1)
		go func() { defer c.wg.Done(); _ = a.Run(runCtx) }()
	}
	per := (c.tasks + cfg.Frameworks - 1) / cfg.Frameworks
	for i := 0; i < cfg.Frameworks; i++ {
		want := min(per, c.tasks-i*per)
		f := &filler{name: fmt.Sprintf("fw%d", i), want: want}
		d, err := driver.New(driver.Config{Masters: c.addrs, Framework: mezzo.FrameworkInfo{Name: f.name, FailoverTimeout: time.Hour},
			MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Logger: cfg.Logger}, f)
		if err != nil {
			return c, err
		}
		if err := d.Start(runCtx); err != nil {
			return c, err
		}
		c.drivers, c.scheds = append(c.drivers, d), append(c.scheds, f)
	}
	// Filled: every task running, and the registry holds every agent.
	var p master.Progress
	var count int64
	for {
		if time.Now().After(deadline) {
			return c, fmt.Errorf("cluster not filled in time: %d of %d agents connected, %d of %d tasks live, %d agents in etcd",
				p.ConnectedAgents, n, p.LiveTasks, c.tasks, count)
		}
		if m := c.leader(); m != nil {
			var err error
			p, err = m.Progress(ctx)
			if err == nil && p.ConnectedAgents == n && p.LiveTasks == c.tasks {
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				r, err := c.etcd.Get(cctx, "/mezzo/agents/", clientv3.WithPrefix(), clientv3.WithCountOnly())
				ccancel()
				if err == nil {
					count = r.Count
				}
				if err == nil && int(r.Count) == n {
					return c, nil
				}
			}
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return c, ctx.Err()
		}
	}
}

// startWave agents are started before waiting for them to register.
const startWave = 500

func (c *cluster) waitAgents(ctx context.Context, deadline time.Time, n int) error {
	for {
		if m := c.leader(); m != nil {
			if p, err := m.Progress(ctx); err == nil && p.ConnectedAgents >= n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d agents not registered in time", n)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *cluster) leader() *master.Master {
	for _, m := range c.masters {
		if m.Leader() && m.Epoch() > 0 {
			return m
		}
	}
	return nil
}

func (c *cluster) waitLeader(ctx context.Context, deadline time.Time, not *master.Master) (*master.Master, error) {
	for time.Now().Before(deadline) {
		for _, m := range c.masters {
			if m != not && m.Leader() && m.Epoch() > 0 {
				return m, nil
			}
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, errors.New("no leader elected in time")
}

func (c *cluster) crashAndMeasure(ctx context.Context, cfg Config) (Row, error) {
	old := c.leader()
	if old == nil {
		return Row{}, errors.New("no leader before the crash")
	}
	// The old leader's election key goes when etcd expires its lease.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	watch := c.etcd.Watch(wctx, "/mezzo/leader/", clientv3.WithPrefix(), clientv3.WithFilterPut())
	leaseGone := make(chan time.Time, 1)
	go func() {
		for resp := range watch {
			if len(resp.Events) > 0 {
				leaseGone <- time.Now()
				return
			}
		}
	}()
	t0 := time.Now()
	old.Crash()
	deadline := t0.Add(cfg.Timeout)
	m, err := c.waitLeader(ctx, deadline, old)
	if err != nil {
		return Row{}, err
	}
	ended := c.ended()
	var fwBack time.Time
	since := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return t.Sub(t0).Seconds()
	}
	for {
		p, err := m.Progress(ctx)
		if err == nil && fwBack.IsZero() && p.ConnectedFrameworks == len(c.drivers) {
			fwBack = time.Now()
		}
		if err == nil && !p.HA.RecoveredAt.IsZero() && p.ConnectedAgents == c.agents && p.LiveTasks == c.tasks && p.ConnectedFrameworks == len(c.drivers) {
			now := time.Now()
			var lease time.Time
			select {
			case lease = <-leaseGone:
			default:
			}
			r := Row{
				Agents: c.agents, Tasks: c.tasks,
				ConfirmedSec:  now.Sub(t0).Seconds(),
				LeaseSec:      since(lease),
				DetectSec:     since(p.HA.ElectedAt),
				AgentsSec:     since(p.HA.AllAgentsBackAt),
				FrameworksSec: since(fwBack),
				AllocateSec:   since(p.HA.RecoveredAt),
				ReregisterSec: p.HA.RecoveredAt.Sub(p.HA.ElectedAt).Seconds(),
				LostTasks:     c.ended() - ended,
			}
			r.RecoverySec = max(r.AgentsSec, r.FrameworksSec, r.AllocateSec)
			return r, nil
		}
		if time.Now().After(deadline) {
			return Row{}, fmt.Errorf("not recovered after %v: connected agents %d of %d, live tasks %d of %d, frameworks %d of %d, allocating %v (%d of the registry's %d agents back, leader acting %v)",
				cfg.Timeout, p.ConnectedAgents, c.agents, p.LiveTasks, c.tasks, p.ConnectedFrameworks, len(c.drivers), !p.HA.RecoveredAt.IsZero(),
				p.HA.AgentsBack, p.HA.KnownAgents, m.Leader())
		}
		// Polls cost the loop little (counts only) but each waits its
		// turn behind the re-registrations: a 5 ms step bounds the error.
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return Row{}, ctx.Err()
		}
	}
}

func (c *cluster) ended() int {
	n := 0
	for _, f := range c.scheds {
		n += f.endedTasks()
	}
	return n
}

func (c *cluster) stop() {
	c.stopOnce.Do(func() {
		for _, d := range c.drivers {
			_ = d.Stop(true)
		}
		c.cancel()
		c.wg.Wait()
		for _, m := range c.masters {
			m.Stop()
		}
		for _, mc := range c.conns {
			_ = mc.Close()
		}
		if c.etcd != nil {
			_ = c.etcd.Close()
		}
	})
}
