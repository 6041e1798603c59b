package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// Master is a running mezzo master. Build it with New, then Start (or
// Serve). One goroutine, the loop, owns the allocator and every piece of
// master state; gRPC handlers hand it closures over a channel and wait for
// the answer, so the core needs no locks.
type Master struct {
	cfg Config
	log *slog.Logger
	obs *observer // metrics and state views (metrics.go, view.go)

	inbox chan func()
	done  chan struct{} // closed when the loop has ended

	// subscribes rate-limits subscriptions per principal (nil: no limit).
	subscribes *security.Limiter

	startOnce sync.Once
	lis       net.Listener
	srv       *grpc.Server
	cancel    context.CancelFunc
	loopDone  chan struct{}
	staging   staging // registrations in parts being received (register.go)

	// Everything below is owned by the loop goroutine.
	alloc      *alloc.Allocator
	frameworks map[mezzo.FrameworkID]*framework
	// perPrincipal counts each principal's frameworks towards its cap
	// (limits.go).
	perPrincipal map[string]int
	removed      map[mezzo.FrameworkID]*framework // torn down; kept for stats and to ack stray updates
	// removedOrder lists m.removed oldest first, so that only the newest
	// MaxCompletedFrameworks are kept (rememberRemoved).
	removedOrder []mezzo.FrameworkID
	// learnUntil ends the window after this master starts leading in
	// which a subscription naming a framework ID it does not know is
	// asked to retry, not refused: the framework's agents, which tell the
	// master whose it is, may not have re-registered yet (recovery.go).
	learnUntil time.Time
	agents     map[mezzo.AgentID]*agentRec
	dirty      map[mezzo.AgentID]struct{}
	allDirty   bool
	seq        uint64 // for IDs of frameworks, agents and sessions
	pingSeq    uint64
	ping       pinger                     // the ping round (liveness.go)
	drains     map[mezzo.AgentID]drainRec // agents under maintenance (operator.go)
	keys       agentKeys                  // agents' secrets (agentid.go)

	ha haState // leader election and recovery (election.go, recovery.go)
}

// New builds a master; it fails when the policy is unknown (the error
// lists the known ones) or the configuration is inconsistent.
func New(cfg Config) (*Master, error) {
	if err := cfg.checkGiven(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pol, err := cfg.Registry.New(cfg.Policy, cfg.PolicyOptions)
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	a, err := alloc.New(alloc.Config{Policy: pol, OfferTimeout: cfg.OfferTimeout, OfferIDPrefix: cfg.MasterID + "-O"})
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	m := &Master{
		cfg:          cfg,
		log:          cfg.Logger.With("master", cfg.MasterID),
		obs:          newObserver(),
		inbox:        make(chan func(), 1024),
		done:         make(chan struct{}),
		loopDone:     make(chan struct{}),
		alloc:        a,
		frameworks:   map[mezzo.FrameworkID]*framework{},
		removed:      map[mezzo.FrameworkID]*framework{},
		perPrincipal: map[string]int{},
		agents:       map[mezzo.AgentID]*agentRec{},
		dirty:        map[mezzo.AgentID]struct{}{},
		drains:       map[mezzo.AgentID]drainRec{},
		keys:         agentKeys{byID: map[mezzo.AgentID]*agentSecret{}},
	}
	if cfg.SubscribeRate > 0 {
		m.subscribes = security.NewLimiter(cfg.SubscribeRate, cfg.SubscribeBurst, nil)
	}
	m.ha.init(len(cfg.HA.Etcd) > 0)
	return m, nil
}

// ID is the master's ID, the prefix of the IDs it hands out.
func (m *Master) ID() string { return m.cfg.MasterID }

// Register adds the master's two services (SchedulerAPI and AgentAPI) to a
// gRPC server the caller runs. Start does this on its own server; Register
// is for callers that serve the master next to other services. The loop
// must be running: call Run in that case.
func (m *Master) Register(s grpc.ServiceRegistrar) {
	api.RegisterSchedulerAPIServer(s, &schedulerServer{m: m})
	api.RegisterAgentAPIServer(s, &agentServer{m: m})
}

// CertRoles are the certificate roles each of the master's gRPC services
// admits (security.RoleGuard): agents' certificates for the AgentAPI,
// clients' for the SchedulerAPI. A master's or an agent's certificate
// therefore cannot register a framework, nor a scheduler's register an
// agent, whatever the ACL says of their principals.
var CertRoles = map[string][]security.Role{
	api.AgentAPI_ServiceDesc.ServiceName:     {security.RoleAgent},
	api.SchedulerAPI_ServiceDesc.ServiceName: {security.RoleClient},
}

// serverOptions are the gRPC server's: Config.ServerOptions, the handshake
// deadline, then the role guard. The deadline comes after the options,
// where gRPC takes the last one given: Config.HandshakeTimeout governs
// the master's listeners, gRPC and HTTP alike, whatever connection
// timeout the options carry (security.ServerOptions always adds one).
func (m *Master) serverOptions() []grpc.ServerOption {
	opts := append([]grpc.ServerOption{}, m.cfg.ServerOptions...)
	opts = append(opts, grpc.ConnectionTimeout(m.cfg.HandshakeTimeout))
	return append(opts, m.RoleOptions()...)
}

// RoleOptions are the interceptors that check callers' certificate roles
// (CertRoles). Start installs them; a caller serving the master on its
// own server (Register) adds them after its authenticating interceptors.
func (m *Master) RoleOptions() []grpc.ServerOption {
	return security.RoleGuard{Services: CertRoles, Failures: m.cfg.AuthFailures}.ServerOptions()
}

// Start listens on Config.Listen, starts the loop and the gRPC server, and
// returns the bound address (useful with port 0). Stop, or cancelling ctx,
// ends both.
func (m *Master) Start(ctx context.Context) (string, error) {
	var err error
	started := false
	m.startOnce.Do(func() {
		started = true
		var lis net.Listener
		lis, err = net.Listen("tcp", m.cfg.Listen)
		if err != nil {
			err = fmt.Errorf("master: listen on %s: %w", m.cfg.Listen, err)
			return
		}
		lis = security.LimitListener(lis, m.cfg.MaxConnections)
		m.lis = lis
		m.srv = grpc.NewServer(m.serverOptions()...)
		m.Register(m.srv)
		ctx, m.cancel = context.WithCancel(ctx)
		if m.ha.enabled {
			if err = m.startHA(ctx, lis.Addr().String()); err != nil {
				m.cancel()
				_ = lis.Close()
				return
			}
		}
		go m.Run(ctx)
		go func() { _ = m.srv.Serve(lis) }()
		go func() {
			<-m.loopDone
			m.srv.Stop()
		}()
		m.log.Info("master started", "listen", lis.Addr().String(), "policy", m.cfg.Policy,
			"ping_interval", m.cfg.PingInterval, "ping_timeout", m.cfg.PingTimeout,
			"allocation_interval", m.cfg.AllocationInterval)
	})
	if !started {
		return "", errors.New("master: already started")
	}
	if err != nil {
		return "", err
	}
	return m.lis.Addr().String(), nil
}

// Serve is Start followed by waiting until ctx ends; it returns nil then.
func (m *Master) Serve(ctx context.Context) error {
	if _, err := m.Start(ctx); err != nil {
		return err
	}
	<-m.loopDone
	return nil
}

// Addr is the bound address once started, "" before.
func (m *Master) Addr() string {
	if m.lis == nil {
		return ""
	}
	return m.lis.Addr().String()
}

// Stop ends the master started by Start and waits for its loop to end.
func (m *Master) Stop() {
	if m.cancel != nil {
		m.cancel()
		<-m.loopDone
		m.srv.Stop() // closes the listener before returning
	}
}

// Done is closed once the master's loop has ended.
func (m *Master) Done() <-chan struct{} { return m.loopDone }

var errStopped = status.Error(codes.Unavailable, "master is shutting down")

// call runs f on the loop and returns its error. It gives up when ctx ends
// or the master stops.
func (m *Master) call(ctx context.Context, f func() error) error {
	res := make(chan error, 1)
	select {
	case m.inbox <- m.obs.timed(func() { res <- f() }):
	case <-m.done:
		return errStopped
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	select {
	case err := <-res:
		return err
	case <-m.done:
		return errStopped
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// post runs f on the loop without waiting for it.
func (m *Master) post(f func()) {
	select {
	case m.inbox <- m.obs.timed(f):
	case <-m.done:
	}
}

// Run is the master's loop: it owns all master state until ctx ends. Start
// runs it; call it yourself only with Register.
func (m *Master) Run(ctx context.Context) {
	defer close(m.loopDone)
	defer close(m.done)
	if !m.ha.enabled {
		m.learnUntil = time.Now().Add(m.cfg.HA.RecoveryTimeout)
	}
	allocTick := time.NewTicker(m.cfg.AllocationInterval)
	pingTick := time.NewTicker(m.pingTick())
	beatTick := time.NewTicker(m.cfg.HeartbeatInterval)
	defer allocTick.Stop()
	defer pingTick.Stop()
	defer beatTick.Stop()
	for {
		select {
		case f := <-m.inbox:
			f()
			// Drain what else is waiting so the allocation below covers a
			// whole batch of freed resources at once.
		drain:
			for i := 0; i < 256; i++ {
				select {
				case f := <-m.inbox:
					f()
				default:
					break drain
				}
			}
		case <-allocTick.C:
			now := time.Now()
			if !m.acting(now) {
				break // a standby, or a leader whose lease may have lapsed
			}
			m.expireFrameworks(now)
			m.rescinded(m.alloc.ExpireOffers(now), "offer timed out")
			m.allDirty = true
		case <-pingTick.C:
			if m.acting(time.Now()) {
				m.pingAgents(time.Now())
			}
		case <-beatTick.C:
			if !m.acting(time.Now()) {
				break
			}
			for _, fw := range m.sortedFrameworks() {
				fw.send(&api.SchedulerEvent{Event: &api.SchedulerEvent_Heartbeat_{Heartbeat: &api.SchedulerEvent_Heartbeat{}}})
			}
		case <-ctx.Done():
			m.shutdown()
			return
		}
		m.allocateDirty(time.Now())
	}
}

func (m *Master) shutdown() {
	for _, fw := range m.frameworks {
		if fw.out != nil {
			fw.out.close(errStopped)
		}
	}
	for _, ag := range m.agents {
		if ag.out != nil {
			ag.out.close(errStopped)
		}
	}
	m.log.Info("master stopped")
}

// markDirty asks for an allocation over the agent once the current batch
// of messages is handled.
func (m *Master) markDirty(id mezzo.AgentID) { m.dirty[id] = struct{}{} }

func (m *Master) allocateDirty(now time.Time) {
	if !m.acting(now) || m.holding(now) {
		return
	}
	var offers []mezzo.Offer
	switch {
	case m.allDirty:
		offers = m.alloc.Allocate(now)
		m.obs.allocation("full", now)
	case len(m.dirty) > 0:
		ids := make([]mezzo.AgentID, 0, len(m.dirty))
		for id := range m.dirty {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		offers = m.alloc.AllocateAgents(now, ids)
		m.obs.allocation("incremental", now)
	default:
		return
	}
	m.allDirty = false
	clear(m.dirty)
	m.sendOffers(offers)
}

// sendOffers groups offers by framework, keeping their order, and sends
// each framework one Offers event.
func (m *Master) sendOffers(offers []mezzo.Offer) {
	if len(offers) == 0 {
		return
	}
	var order []mezzo.FrameworkID
	byFw := map[mezzo.FrameworkID][]*api.Offer{}
	for _, o := range offers {
		if _, ok := byFw[o.FrameworkID]; !ok {
			order = append(order, o.FrameworkID)
		}
		byFw[o.FrameworkID] = append(byFw[o.FrameworkID], api.OfferToProto(o))
	}
	for _, id := range order {
		fw := m.frameworks[id]
		if fw == nil || fw.out == nil {
			// Cannot happen while the allocator only offers to active
			// frameworks; take the offers back rather than strand them.
			ids := make([]mezzo.OfferID, 0, len(byFw[id]))
			for _, o := range byFw[id] {
				ids = append(ids, mezzo.OfferID(o.OfferId))
			}
			m.alloc.Rescind(ids...)
			continue
		}
		fw.stats.OffersReceived += len(byFw[id])
		m.obs.sent(len(byFw[id]))
		fw.send(&api.SchedulerEvent{Event: &api.SchedulerEvent_Offers_{Offers: &api.SchedulerEvent_Offers{Offers: byFw[id]}}})
	}
}

// rescinded tells frameworks their offers are gone and marks the agents
// for reallocation.
func (m *Master) rescinded(offers []mezzo.Offer, why string) {
	for _, o := range offers {
		m.markDirty(o.AgentID)
		if fw := m.frameworks[o.FrameworkID]; fw != nil {
			m.obs.rescinded()
			m.log.Debug("offer rescinded", "framework", o.FrameworkID, "agent", o.AgentID, "offer", o.ID, "why", why)
			fw.send(&api.SchedulerEvent{Event: &api.SchedulerEvent_Rescind_{Rescind: &api.SchedulerEvent_Rescind{OfferId: string(o.ID)}}})
		}
	}
}

func (m *Master) nextID(kind string) string {
	m.seq++
	return fmt.Sprintf("%s-%s%04d", m.cfg.MasterID, kind, m.seq)
}

func (m *Master) sortedFrameworks() []*framework {
	out := make([]*framework, 0, len(m.frameworks))
	for _, fw := range m.frameworks {
		out = append(out, fw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (m *Master) sortedAgents() []*agentRec {
	out := make([]*agentRec, 0, len(m.agents))
	for _, ag := range m.agents {
		out = append(out, ag)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// debugging says whether debug records are kept. The loop checks it before
// a per-task debug record (each status update, each acknowledgement):
// building the record's arguments costs four allocations and about 0.2 µs
// even when the level drops it, on the loop that bounds the master.
func (m *Master) debugging() bool {
	return m.log.Enabled(context.Background(), slog.LevelDebug)
}
