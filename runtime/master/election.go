package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Leader election on etcd (HAConfig.Etcd set).
//
// Every master serves gRPC from the start. A standby answers every
// scheduler and agent call with Unavailable and a LeaderHint naming the
// leader it observes in etcd, so clients that know any master find the
// leader. Each master campaigns in a concurrency.Election on its own lease;
// the winner's epoch is its election key's creation revision, which only
// grows from one leader to the next.
//
// Fencing, so that no two masters ever act as leader at once:
//   - The master acts (serves calls, pings, expires, allocates) only while
//     its lease surely lives: after each keep-alive it sends at t0 and that
//     etcd answers, the lease lives at least until t0 + TTL on etcd's side,
//     so the master acts until t0 + TTL − TTL/4 (the quarter absorbs clock
//     rate drift). Another master can only win after the lease expires on
//     etcd, i.e. after this one stopped. A master cut off from etcd thus
//     stops acting within one TTL, without hearing from anyone.
//   - A renewal that comes late only pauses acting: the window reopens
//     with the next renewal etcd answers, and the soft state (every agent
//     and framework stream) is kept. The master steps down (closes every
//     stream with Unavailable, drops its soft state and campaigns again as
//     a standby) when etcd says the lease is gone, or when no renewal has
//     been answered for a TTL past the window's end (etcd unreachable: a
//     standby has surely taken over). The client library's own keep-alive
//     (concurrency.Session.Done) is not a reason: it gives up after one
//     TTL without an answer, and in a CPU-starved process (a 10,000-agent
//     re-registration storm) that deposed leaders whose lease etcd still
//     held, which then dropped all the state they had just rebuilt. The
//     lease TTL sets how fast a crash is detected; the window (below)
//     keeps two leaders from acting at once; the grace after it decides
//     when to give up.
//   - Every command to agents carries the epoch; agents refuse masters and
//     commands older than the newest epoch they have seen (runtime/agent).
//   - Registry writes are etcd transactions conditioned on the election key
//     (registry.go).
type haState struct {
	enabled bool
	cli     *clientv3.Client
	// renewCli carries only lease renewals (renewer).
	renewCli *clientv3.Client
	// validUntil is when this master must stop acting (unix nanoseconds;
	// 0 when not leading). Written by the election goroutine, read by the
	// loop.
	validUntil atomic.Int64
	hint       atomic.Pointer[api.LeaderHint]
	crashed    atomic.Bool
	epochA     atomic.Int64
	// elected is closed when this master next becomes leader (then
	// replaced), releasing the subscriptions parked on it (awaitLeading).
	elected atomic.Pointer[chan struct{}]

	// Loop-owned.
	leader     bool
	epoch      int64
	electedAt  time.Time
	reg        *registry
	registered map[string]struct{} // agent IDs in the registry
	rec        *recovery
	last       RecoveryStats
}

func (h *haState) init(enabled bool) {
	h.enabled = enabled
	ch := make(chan struct{})
	h.elected.Store(&ch)
}

// leaderValue is the election value: where clients reach the leader.
type leaderValue struct {
	Address  string `json:"address"`
	MasterID string `json:"master_id"`
}

// LeaderFromEtcd reads the current leader's address from etcd (prefix as
// in HAConfig.Prefix, "" for the default). Clients that know etcd rather
// than the masters use it, e.g. as api.MasterConn.Discover.
func LeaderFromEtcd(ctx context.Context, cli *clientv3.Client, prefix string) (addr, masterID string, err error) {
	if prefix == "" {
		prefix = "/mezzo"
	}
	resp, err := cli.Get(ctx, prefix+"/leader/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", "", fmt.Errorf("master: reading the leader from etcd: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", "", fmt.Errorf("master: no leader elected under %s", prefix)
	}
	var v leaderValue
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		return "", "", fmt.Errorf("master: leader value %q: %w", resp.Kvs[0].Value, err)
	}
	return v.Address, v.MasterID, nil
}

// acting reports whether the master may act as leader at now: without
// etcd always; with it, while in a term (epochA set) and inside the acting
// window the lease renewals keep open. It is the one source of truth for
// the role: the loop's calls, /health, the leader gauge and the state
// view all ask it (Leader), so no answer says "leader" once calls are
// refused, nor the other way round. Safe from any goroutine.
func (m *Master) acting(now time.Time) bool {
	if !m.ha.enabled {
		return true
	}
	return m.ha.inTerm() && now.UnixNano() < m.ha.validUntil.Load()
}

// inTerm says whether this master won the election and has not stepped
// down yet, whether or not its acting window is open right now.
func (h *haState) inTerm() bool { return h.epochA.Load() > 0 }

// maxPark bounds how long a standby holds a subscription for its client
// (api.AwaitLeaderKey).
const maxPark = 5 * time.Second

// awaitLeading parks a subscription at a standby whose client asked for
// it (api.AwaitLeaderKey: the leader it knew is gone) until this master is
// elected, the wait ends or the client goes. The caller then handles the
// call as usual: as leader, or with Unavailable and the hint.
func (m *Master) awaitLeading(ctx context.Context) {
	if !m.ha.enabled {
		return
	}
	if m.ha.inTerm() {
		m.awaitActing(ctx)
		return
	}
	d := min(api.AwaitLeaderFrom(ctx), maxPark)
	if d <= 0 {
		return
	}
	ch := m.ha.elected.Load()
	if ch == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-*ch:
	case <-t.C:
	case <-ctx.Done():
	case <-m.done:
	}
}

// awaitActing holds a subscription to a leader whose acting window closed
// after a slow lease renewal (election.go) for up to one lease TTL, until
// a renewal reopens it. Refusing instead sends every client into a retry
// loop, and that load is what slows the renewals.
func (m *Master) awaitActing(ctx context.Context) {
	deadline := time.Now().Add(m.cfg.HA.LeaseTTL)
	for !m.acting(time.Now()) && m.ha.inTerm() && time.Now().Before(deadline) {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return
		case <-m.done:
			return
		}
	}
}

// announceElected releases the parked subscriptions. Loop only.
func (m *Master) announceElected() {
	next := make(chan struct{})
	if old := m.ha.elected.Swap(&next); old != nil {
		close(*old)
	}
}

// notLeader is the answer of a master that does not act as leader. A
// hint naming this master (a leader whose acting window closed, cut off
// from etcd, still observes itself as the leader) would send the client
// straight back here: it is left out, and the client asks elsewhere.
func (m *Master) notLeader() error {
	h := m.ha.hint.Load()
	if h.GetMasterId() == m.cfg.MasterID {
		h = nil
	}
	return api.NotLeaderError(m.cfg.MasterID, h)
}

// Epoch is this master's fencing epoch while it leads (0 without etcd or
// while standing by).
func (m *Master) Epoch() int64 { return m.ha.epochA.Load() }

func (m *Master) startHA(ctx context.Context, addr string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: m.cfg.HA.Etcd, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("master: etcd %v: %w", m.cfg.HA.Etcd, err)
	}
	rcli, err := clientv3.New(clientv3.Config{Endpoints: m.cfg.HA.Etcd, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		cli.Close()
		return fmt.Errorf("master: etcd %v: %w", m.cfg.HA.Etcd, err)
	}
	m.ha.cli, m.ha.renewCli = cli, rcli
	adv := m.cfg.HA.Advertise
	if adv == "" {
		adv = addr
	}
	go func() {
		defer cli.Close()
		defer rcli.Close()
		for ctx.Err() == nil {
			if err := m.term(ctx, adv); err != nil && ctx.Err() == nil {
				m.log.Warn("election term ended", "err", err)
				select {
				case <-time.After(200 * time.Millisecond):
				case <-ctx.Done():
				}
			}
		}
	}()
	return nil
}

// term is one try at leadership: campaign, lead until the lease is lost
// or ctx ends, step down.
func (m *Master) term(ctx context.Context, adv string) error {
	cfg := m.cfg.HA
	ttl := time.Duration((cfg.LeaseTTL+time.Second-1)/time.Second) * time.Second
	// Two leases: the campaign's session lease lives standbyTTLs longer
	// than the leader's, so that a standby starved for a moment keeps its
	// place in line; the winner moves its election key onto a lease of
	// HAConfig.LeaseTTL, whose expiry is what detects its crash.
	sess, err := concurrency.NewSession(m.ha.cli, concurrency.WithTTL(int(standbyTTLs*ttl/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("etcd session: %w", err)
	}
	defer func() {
		if m.ha.crashed.Load() {
			sess.Orphan() // as if the process died: the lease runs out
		} else {
			_ = sess.Close() // revokes the lease: a standby takes over at once
		}
	}()
	// Renew the lease ourselves from the start, standing by too: the
	// session's own keep-alive (clientv3 sends at most every 500 ms, a
	// third of the TTL at best) lets a 1 s lease lapse after one short
	// stall of a loaded process, and a standby whose lease lapsed while
	// it waited must campaign again when the leader dies.
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	rn := newRenewer(m, sess.Lease(), standbyTTLs*ttl)
	go rn.run(rctx)

	e := concurrency.NewElection(sess, cfg.Prefix+"/leader")

	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	go m.observe(octx, e)

	val, _ := json.Marshal(leaderValue{Address: adv, MasterID: m.cfg.MasterID})
	cctx, ccancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-rn.lost:
			ccancel() // no use waiting on a campaign with a dead lease
		case <-cctx.Done():
		}
	}()
	err = e.Campaign(cctx, string(val))
	ccancel()
	if err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	// Lead on a short lease granted at t0 or later: the key, once moved
	// onto it, cannot go (and nobody else win) before t0 + TTL. The move
	// keeps the key's creation revision, the epoch.
	t0 := time.Now()
	ll, err := m.ha.renewCli.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return fmt.Errorf("leader lease: %w", err)
	}
	leaderLease := ll.ID
	defer func() {
		if !m.ha.crashed.Load() {
			rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = m.ha.renewCli.Revoke(rctx, leaderLease)
			rcancel()
		}
	}()
	mv, err := m.ha.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(e.Key()), "=", e.Rev())).
		Then(clientv3.OpPut(e.Key(), string(val), clientv3.WithLease(leaderLease))).Commit()
	if err != nil {
		return fmt.Errorf("moving the election key to the leader lease: %w", err)
	}
	if !mv.Succeeded {
		return errors.New("elected, but the election key was gone before it moved to the leader lease (the campaign lease lapsed)")
	}
	rn = newRenewer(m, leaderLease, ttl)
	rn.lead(t0)
	go rn.run(rctx)
	epoch := e.Rev()
	electedAt := time.Now()

	lctx, lcancel := context.WithTimeout(ctx, ttl)
	reg, err := loadRegistry(lctx, m.ha.cli, cfg.Prefix)
	lcancel()
	if err != nil {
		rn.stop()
		_ = e.Resign(context.Background())
		return err
	}
	w := &registry{cli: m.ha.cli, prefix: cfg.Prefix, leaderKey: e.Key(), epoch: epoch, log: m.log, q: newOutbox[regOp]()}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go w.run(wctx)
	m.post(func() { m.becomeLeader(epoch, electedAt, reg, w) })
	m.log.Info("elected leader", "epoch", epoch, "address", adv, "known_agents", len(reg.agents), "known_frameworks", len(reg.frameworks))

	why := ""
	select {
	case <-ctx.Done():
		why = "master stopping"
	case <-rn.lost:
		why = "lease expired"
	case <-rn.silent:
		why = "no lease renewal answered"
	}
	rn.stop() // stop acting before anything else
	w.close()
	m.post(func() { m.stepDown(why) })
	m.log.Warn("stepping down", "epoch", epoch, "why", why)
	if ctx.Err() == nil && !m.ha.crashed.Load() {
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		_ = e.Resign(rctx)
		rcancel()
	}
	return nil
}

// renewer keeps one lease alive with KeepAliveOnce every TTL/8, on a
// connection to etcd of its own (haState.renewCli: renewals do not queue
// behind registry writes and the election watch), and, while
// the master leads, moves its acting window: the lease surely lives until
// t0 + TTL for a renewal sent at t0 and answered, so the master acts
// until t0 + TTL − TTL/4 (the quarter absorbs clock rate drift). A single
// call per renewal, rather than clientv3's keep-alive stream, is what
// gives t0: a stream's answer does not say which request it answers.
type renewer struct {
	cli   *clientv3.Client
	lease clientv3.LeaseID
	ttl   time.Duration
	ha    *haState
	log   interface{ Warn(string, ...any) }
	lost  chan struct{} // closed when etcd says the lease is gone
	// silent is closed when, leading, no renewal has been answered for a
	// TTL past the end of the acting window.
	silent chan struct{}

	mu      sync.Mutex
	leading bool
}

func (r *renewer) valid(t0 time.Time) int64 { return t0.Add(r.ttl - r.ttl/4).UnixNano() }

// lead opens the acting window from a renewal sent at t0.
func (r *renewer) lead(t0 time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leading = true
	r.ha.validUntil.Store(r.valid(t0))
}

// stop closes the acting window for good.
func (r *renewer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leading = false
	r.ha.validUntil.Store(0)
}

// standbyTTLs is how many leader TTLs the campaign (standby) lease lives.
// A standby that is dead keeps its place in line that long (with three or
// more masters, a leader crash right after a standby crash is detected
// that much later); one that is starved loses its place only after that.
const standbyTTLs = 3

func newRenewer(m *Master, lease clientv3.LeaseID, ttl time.Duration) *renewer {
	return &renewer{cli: m.ha.renewCli, lease: lease, ttl: ttl, ha: &m.ha, lost: make(chan struct{}), silent: make(chan struct{}), log: m.log}
}

// maxRenewals bounds the renewals in flight at once.
const maxRenewals = 4

// run sends a renewal every TTL/8 without waiting for the previous one to
// be answered: in a starved process (a re-registration storm, a loaded
// machine) one renewal can take most of a TTL, and renewals made one after
// the other then let a 1 s lease lapse although etcd would have taken a
// later one in time. Each answer moves the window from its own send time,
// never backwards. At most maxRenewals are outstanding: more would only
// add to the load that slows them.
func (r *renewer) run(ctx context.Context) {
	tick := time.NewTicker(r.ttl / 8)
	defer tick.Stop()
	slots := make(chan struct{}, maxRenewals)
	var lostOnce sync.Once
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t := time.Now()
		if r.silentSince(t) {
			close(r.silent)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			continue
		}
		go func() {
			defer func() { <-slots }()
			kctx, kcancel := context.WithTimeout(ctx, r.ttl)
			_, err := r.cli.KeepAliveOnce(kctx, r.lease)
			kcancel()
			switch {
			case err == nil:
				r.renewed(t)
			case errors.Is(err, rpctypes.ErrLeaseNotFound):
				lostOnce.Do(func() { close(r.lost) })
			case ctx.Err() == nil:
				// Acting stops by itself when the window closes.
				r.log.Warn("lease renewal failed", "err", err)
			}
		}()
	}
}

// silentSince says whether, leading, no renewal has been answered for a
// TTL past the acting window's end.
func (r *renewer) silentSince(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.ha.validUntil.Load()
	return r.leading && v > 0 && now.UnixNano() > v+int64(r.ttl)
}

// renewed moves the acting window after a renewal sent at t0 succeeded:
// the lease lived when etcd renewed it, so nobody else can have won, and
// acting resumes if a slow renewal paused it.
func (r *renewer) renewed(t0 time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v := r.valid(t0); r.leading && v > r.ha.validUntil.Load() {
		r.ha.validUntil.Store(v)
	}
}

// observe keeps the hint standbys give clients current.
func (m *Master) observe(ctx context.Context, e *concurrency.Election) {
	for resp := range e.Observe(ctx) {
		if len(resp.Kvs) == 0 {
			continue
		}
		var v leaderValue
		if json.Unmarshal(resp.Kvs[0].Value, &v) == nil {
			m.ha.hint.Store(&api.LeaderHint{Address: v.Address, MasterId: v.MasterID, Epoch: resp.Kvs[0].CreateRevision})
		}
	}
}

// Crash stops the master as kill -9 would, for tests and the failover
// experiment: connections drop, and its election lease is neither revoked
// nor renewed, so standbys take over only once it expires.
func (m *Master) Crash() {
	m.ha.crashed.Store(true)
	m.Stop()
}
