package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
)

// NotLeaderError is the error a standby master answers every call with:
// Unavailable, with the leader's address in a LeaderHint detail (hint may be
// nil or empty while no leader is known).
func NotLeaderError(self string, hint *LeaderHint) error {
	msg := fmt.Sprintf("master %s is not the leader", self)
	if hint.GetAddress() != "" {
		msg += "; the leader is " + hint.GetMasterId() + " at " + hint.GetAddress()
	}
	st := status.New(codes.Unavailable, msg)
	if hint != nil {
		if d, err := st.WithDetails(hint); err == nil {
			st = d
		}
	}
	return st.Err()
}

// LeaderHintFrom extracts the LeaderHint a standby master attached to err;
// nil when there is none.
func LeaderHintFrom(err error) *LeaderHint {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if h, ok := d.(*LeaderHint); ok {
			return h
		}
	}
	return nil
}

// MasterConn is one gRPC connection to whichever of several masters leads.
// It is a normal *grpc.ClientConn (Conn) whose target is a manual resolver:
// Failed re-points it, following a standby's LeaderHint, else asking
// Discover (etcd, say), else trying the next configured address. Clients
// (the scheduler driver, agents) call Failed after a call or stream fails
// and then retry; they never redial.
type MasterConn struct {
	conn  *grpc.ClientConn
	r     *manual.Resolver
	addrs []string

	// Discover, when set, names the leader's address (e.g. read from
	// etcd); Failed uses it when an error carries no hint.
	Discover func(ctx context.Context) (string, error)

	mu      sync.Mutex
	next    int
	current atomic.Pointer[string]
	dead    map[string]time.Time // addresses that failed without a hint, and when
}

// deadFor is how long hints to an address that just failed are ignored: a
// standby keeps naming a crashed leader until the leader's lease expires,
// and following it would bounce clients between the two.
const deadFor = 3 * time.Second

var masterSchemeSeq atomic.Uint64

// DialMasters prepares a connection to the masters at addrs (host:port; a
// single string may also hold a comma-separated list). It starts with the
// first address. Insecure transport credentials are the default.
func DialMasters(addrs []string, opts ...grpc.DialOption) (*MasterConn, error) {
	var list []string
	for _, a := range addrs {
		for _, p := range strings.Split(a, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
	}
	if len(list) == 0 {
		return nil, errors.New("api: no master address")
	}
	// A scheme per connection: manual resolvers are registered per
	// ClientConn with WithResolvers, but distinct names keep logs clear.
	scheme := fmt.Sprintf("mezzo-masters-%d", masterSchemeSeq.Add(1))
	r := manual.NewBuilderWithScheme(scheme)
	r.InitialState(resolver.State{Addresses: []resolver.Address{masterAddress(list[0])}})
	c := &MasterConn{r: r, addrs: list, next: 1 % len(list), dead: map[string]time.Time{}}
	all := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(r),
		grpc.WithChainStreamInterceptor(c.awaitStream)}, opts...)
	conn, err := grpc.NewClient(scheme+":///masters", all...)
	if err != nil {
		return nil, fmt.Errorf("api: masters %v: %w", list, err)
	}
	c.conn = conn
	c.current.Store(&list[0])
	return c, nil
}

// Conn is the connection to build service clients on.
func (c *MasterConn) Conn() *grpc.ClientConn { return c.conn }

// Current is the address calls go to now.
func (c *MasterConn) Current() string { return *c.current.Load() }

// Use points the connection at addr.
func (c *MasterConn) Use(addr string) {
	if addr == "" || addr == c.Current() {
		return
	}
	c.current.Store(&addr)
	c.r.UpdateState(resolver.State{Addresses: []resolver.Address{masterAddress(addr)}})
}

// Failed picks where to go after a call to tried failed with err: the
// leader a standby named, else the leader Discover names, else the next
// configured address. It returns the address chosen. Many clients may
// share one MasterConn: a failure at an address the connection has
// already left changes nothing, so they do not undo each other's moves.
func (c *MasterConn) Failed(ctx context.Context, tried string, err error) string {
	if h := LeaderHintFrom(err); h.GetAddress() != "" {
		c.mu.Lock()
		died, ok := c.dead[h.GetAddress()]
		c.mu.Unlock()
		if ok && time.Since(died) < deadFor {
			return c.Current() // stay with the standby until it leads
		}
		c.Use(h.GetAddress())
		return h.GetAddress()
	}
	if cur := c.Current(); tried != cur {
		return cur
	}
	c.mu.Lock()
	c.dead[tried] = time.Now()
	c.mu.Unlock()
	if c.Discover != nil {
		if addr, derr := c.Discover(ctx); derr == nil && addr != "" {
			c.Use(addr)
			return addr
		}
	}
	c.mu.Lock()
	addr := c.nextAlive()
	c.mu.Unlock()
	c.Use(addr)
	return addr
}

// nextAlive takes the next configured address in turn, skipping those
// that failed within deadFor (all of them failed: the next anyway). Many
// clients share a MasterConn: when the leader it pointed at crashes, each
// of them reports the failure, and plain turns sent the connection back
// to the dead address every other report, which put half the clients of
// a 10,000-agent failover into reconnect backoff. Called with mu held.
func (c *MasterConn) nextAlive() string {
	n := len(c.addrs)
	for i := 0; i < n; i++ {
		a := c.addrs[(c.next+i)%n]
		if t, dead := c.dead[a]; !dead || time.Since(t) >= deadFor {
			c.next = (c.next + i + 1) % n
			return a
		}
	}
	a := c.addrs[c.next]
	c.next = (c.next + 1) % n
	return a
}

// Close closes the connection.
func (c *MasterConn) Close() error { return c.conn.Close() }

// AwaitLeaderKey is the request metadata with which a client that has just
// lost the leader asks a standby to hold its subscription (value: the
// longest wait, in milliseconds) until the standby leads, rather than
// answering Unavailable at once. After a crash every agent and framework
// then re-subscribes the moment the standby is elected, instead of
// polling it: re-registration is one burst, not a retry schedule.
const AwaitLeaderKey = "mezzo-await-leader"

// awaitWait is the wait a MasterConn asks for: the lease of a crashed
// leader runs out within a few seconds.
const awaitWait = 3 * time.Second

// awaitStream asks for AwaitLeaderKey on streams opened while a master
// this connection used recently failed.
func (c *MasterConn) awaitStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.leaderLost() {
		ctx = metadata.AppendToOutgoingContext(ctx, AwaitLeaderKey, fmt.Sprint(awaitWait.Milliseconds()))
	}
	return streamer(ctx, desc, cc, method, opts...)
}

func (c *MasterConn) leaderLost() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.dead {
		if time.Since(t) < deadFor {
			return true
		}
	}
	return false
}

// AwaitLeaderFrom is the wait a client asked for with AwaitLeaderKey in
// the incoming metadata of ctx (0 when none, or malformed).
func AwaitLeaderFrom(ctx context.Context) time.Duration {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return 0
	}
	v := md.Get(AwaitLeaderKey)
	if len(v) == 0 {
		return 0
	}
	var ms int64
	if _, err := fmt.Sscan(v[0], &ms); err != nil || ms < 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}
