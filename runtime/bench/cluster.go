package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/agent"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// ClusterConfig sizes an in-process cluster: one real master on loopback
// and emulated agents, each a real gRPC client of it.
type ClusterConfig struct {
	Agents int
	// AgentResources is what every agent offers.
	AgentResources mezzo.Resources
	// AgentsPerConn is how many agents share one gRPC connection (each
	// still has its own event stream, registration, pings and updates).
	// Default 100.
	AgentsPerConn int
	// Master configures the master; Listen defaults to 127.0.0.1:0 and
	// Logger to the cluster's.
	Master master.Config
	// MasterCommand, when set, runs the master as a child process instead
	// of in this process: the argv of `mezzo master` (e.g.
	// {os.Executable(), "master"}), to which StartCluster adds --listen,
	// --http, --log-level and Master's PingInterval and AllocationInterval
	// (other Master fields are not passed). Cluster.Master is then nil;
	// MasterCPU and MasterMetrics read the child. See masterproc.go.
	MasterCommand []string
	// MasterProfile, with MasterCommand, is where the child master writes
	// a CPU profile of its whole run (its --cpuprofile).
	MasterProfile string
	// MasterLog receives the child master's output; nil discards it.
	MasterLog io.Writer
	// Logger receives the master's and agents' logs; nil discards them.
	Logger *slog.Logger
	// OnTerminalUpdate, when set, is called as an agent sends the terminal
	// status update of a task (before the call reaches the master), the
	// moment the task's resources start to be freed.
	OnTerminalUpdate func(agent mezzo.AgentID, task mezzo.TaskID, at time.Time)
}

// DefaultPingInterval is the master's ping interval in benchmark clusters
// unless ClusterConfig.Master sets one: the master's own default.
const DefaultPingInterval = master.DefaultPingInterval

// Cluster is a running master with its emulated agents.
type Cluster struct {
	// Master is the in-process master; nil with MasterCommand.
	Master *master.Master
	// Addr is the master's bound address.
	Addr string
	// AgentHeapBytes is the heap the agents added once registered, divided
	// by their number (after a GC on both sides); it includes the master's
	// record of each agent and both ends of its gRPC stream.
	AgentHeapBytes float64
	// AgentGoroutines is the goroutines each registered agent added,
	// master side included.
	AgentGoroutines float64

	proc   *masterProc // with MasterCommand
	agents []*agent.Agent
	conns  []*grpc.ClientConn
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartCluster starts the master, then the agents, and returns once every
// agent is registered (or ctx ends).
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Agents <= 0 {
		return nil, fmt.Errorf("bench: %d agents; need at least one", cfg.Agents)
	}
	if cfg.AgentResources.IsEmpty() {
		return nil, errors.New("bench: agents need resources")
	}
	if cfg.AgentsPerConn <= 0 {
		cfg.AgentsPerConn = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c := &Cluster{cancel: cancel}
	if len(cfg.MasterCommand) > 0 {
		logw := cfg.MasterLog
		if logw == nil {
			logw = io.Discard
		}
		p, err := startMasterProc(ctx, cfg.MasterCommand, cfg.Master.PingInterval, cfg.Master.AllocationInterval, cfg.MasterProfile, logw)
		if err != nil {
			cancel()
			return nil, err
		}
		c.proc, c.Addr = p, p.addr
	} else {
		mcfg := cfg.Master
		if mcfg.Listen == "" {
			mcfg.Listen = "127.0.0.1:0"
		}
		if mcfg.Logger == nil {
			mcfg.Logger = cfg.Logger
		}
		// The emulated frameworks all subscribe as the one anonymous
		// principal, hundreds at once: the per-principal subscription
		// limits are for tenants, not for a benchmark's frameworks.
		if mcfg.MaxFrameworksPerPrincipal == 0 {
			mcfg.MaxFrameworksPerPrincipal = -1
		}
		if mcfg.SubscribeRate == 0 {
			mcfg.SubscribeRate = -1
		}
		m, err := master.New(mcfg)
		if err != nil {
			cancel()
			return nil, err
		}
		addr, err := m.Start(runCtx)
		if err != nil {
			cancel()
			return nil, err
		}
		c.Master, c.Addr = m, addr
	}
	addr := c.Addr

	heap0, gor0 := heapInUse(), runtime.NumGoroutine()
	for i := 0; i < cfg.Agents; i++ {
		if i%cfg.AgentsPerConn == 0 {
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				c.Stop()
				return nil, fmt.Errorf("bench: dialling the master: %w", err)
			}
			c.conns = append(c.conns, conn)
		}
		var conn grpc.ClientConnInterface = c.conns[len(c.conns)-1]
		if cfg.OnTerminalUpdate != nil {
			conn = &tapConn{ClientConnInterface: conn, onTerminal: cfg.OnTerminalUpdate}
		}
		a, err := agent.New(agent.Config{
			Conn: conn, Emulated: true, Resources: cfg.AgentResources,
			Hostname: fmt.Sprintf("bench-agent-%d", i), Logger: cfg.Logger,
		})
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.agents = append(c.agents, a)
		c.wg.Add(1)
		go func() { defer c.wg.Done(); _ = a.Run(runCtx) }()
	}
	if err := c.waitRegistered(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	c.AgentHeapBytes = float64(heapInUse()-heap0) / float64(cfg.Agents)
	c.AgentGoroutines = float64(runtime.NumGoroutine()-gor0) / float64(cfg.Agents)
	return c, nil
}

// waitRegistered polls until the master counts every agent.
func (c *Cluster) waitRegistered(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		registered := 0
		for _, a := range c.agents {
			if a.ID() != "" {
				registered++
			}
		}
		if registered == len(c.agents) && c.Master == nil {
			return nil // every agent holds the ID the master gave it
		}
		if registered == len(c.agents) {
			s, err := c.Master.Snapshot(ctx)
			if err != nil {
				return err
			}
			if s.Totals.Agents == len(c.agents) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %d of %d agents registered: %w", registered, len(c.agents), ctx.Err())
		case <-tick.C:
		}
	}
}

// Agents is the number of agents started.
func (c *Cluster) Agents() int { return len(c.agents) }

// Stop ends the master, then the agents.
func (c *Cluster) Stop() {
	// The master first: agents leaving one by one would each be handled
	// as lost (their frameworks told, their tasks ended), minutes of
	// work at tens of thousands of agents.
	if c.proc != nil {
		c.proc.stop()
	} else {
		c.Master.Stop()
	}
	c.cancel()
	c.wg.Wait()
	for _, conn := range c.conns {
		_ = conn.Close()
	}
}

// MasterCPU is the child master's user+system CPU time so far; ok is
// false for an in-process master (whose CPU cannot be told from the
// agents').
func (c *Cluster) MasterCPU() (d time.Duration, ok bool) {
	if c.proc == nil {
		return 0, false
	}
	d, err := c.proc.cpu()
	return d, err == nil
}

// MasterRSS is the child master's resident memory in bytes (0 in process).
func (c *Cluster) MasterRSS() float64 {
	if c.proc == nil {
		return 0
	}
	return c.proc.rss()
}

// MasterMetrics reads the child master's Prometheus metrics, each series
// summed over its labels; nil for an in-process master.
func (c *Cluster) MasterMetrics(ctx context.Context) (map[string]float64, error) {
	if c.proc == nil {
		return nil, nil
	}
	return c.proc.metrics(ctx)
}

// heapInUse is the live heap after a full collection.
func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// tapConn is an agent's connection that reports terminal status updates
// as they leave the agent; everything else passes through untouched.
type tapConn struct {
	grpc.ClientConnInterface
	onTerminal func(mezzo.AgentID, mezzo.TaskID, time.Time)
}

func (t *tapConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	switch req := args.(type) {
	case *api.AgentUpdateRequest:
		t.note(req.GetHeader(), req)
	case *api.AgentUpdatesRequest:
		for _, u := range req.GetUpdates() {
			t.note(req.GetHeader(), u)
		}
	}
	return t.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}

func (t *tapConn) note(h *api.AgentHeader, req *api.AgentUpdateRequest) {
	if st, err := api.StateFromProto(req.GetStatus().GetState()); err == nil && st.Terminal() {
		t.onTerminal(mezzo.AgentID(h.GetAgentId()), mezzo.TaskID(req.GetStatus().GetTaskId()), time.Now())
	}
}
