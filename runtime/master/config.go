package master

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"google.golang.org/grpc"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// Config sets up a Master. Zero fields take the defaults noted.
type Config struct {
	// Listen is the TCP address to serve on; "127.0.0.1:0" picks a free
	// port (Start returns the bound address). Default "127.0.0.1:5050".
	Listen string
	// Policy names the allocation policy in Registry. Default "drf".
	Policy        string
	PolicyOptions alloc.PolicyOptions
	// Registry holds the policies Policy is looked up in; nil means
	// alloc.DefaultRegistry().
	Registry *alloc.Registry
	// PingInterval is how often agents are pinged. Default 15 s, as
	// Mesos's agent_ping_timeout: at 1 s, pings and pongs alone were a
	// loop turn per agent per second. Tests that need agents declared lost
	// quickly set a short interval.
	PingInterval time.Duration
	// PingTimeout is how long an agent may go without answering a ping
	// before it is removed and its tasks are reported lost. Default
	// 5 × PingInterval (Mesos: max_agent_ping_timeouts 5, so 75 s).
	PingTimeout time.Duration
	// AllocationInterval is the period of full allocation cycles (Mesos:
	// 1 s). Resources freed in between are offered at once, in batches.
	AllocationInterval time.Duration
	// OfferTimeout rescinds offers left unanswered this long; 0 never.
	OfferTimeout time.Duration
	// HeartbeatInterval is how often schedulers get a heartbeat. Default
	// 15 s.
	HeartbeatInterval time.Duration
	// FailoverTimeout is how long a disconnected framework that named no
	// failover timeout of its own keeps its tasks. Default 1 minute.
	FailoverTimeout time.Duration
	// MaxFailoverTimeout is the longest failover timeout a framework may
	// ask for; a subscription asking for more is refused with
	// InvalidArgument naming the limit (as Mesos refuses a FrameworkInfo
	// it cannot honour), so a framework never believes its tasks are kept
	// longer than they are. Default 1 week.
	MaxFailoverTimeout time.Duration
	// MaxFrameworksPerPrincipal caps the frameworks one principal may have
	// registered at once (connected, or disconnected within their failover
	// timeout); a registration over it is refused with ResourceExhausted.
	// A re-subscription of a registered framework never counts again. A
	// framework rebuilt from an agent's report counts only once its
	// scheduler subscribes it: any holder of the agents' certificate may
	// report frameworks in any principal's name.
	// Without authentication every caller is the one anonymous principal
	// and shares the cap. Default 100; negative: no cap.
	MaxFrameworksPerPrincipal int
	// SubscribeRate and SubscribeBurst rate-limit subscriptions per
	// principal (a token bucket, like security.Limiter): SubscribeRate a
	// second on average, SubscribeBurst at once; over it a subscription is
	// refused with ResourceExhausted before it costs the loop anything.
	// Anonymous callers share one bucket (Mesos's aggregate default).
	// Defaults 10/s and 100 (a principal's frameworks all re-subscribing
	// after a failover fit in the burst); a negative rate: no limit.
	SubscribeRate  float64
	SubscribeBurst int
	// MaxCompletedFrameworks bounds the removed frameworks the master
	// remembers (their stats, and that their IDs may not come back);
	// beyond it the oldest are forgotten (Mesos's
	// max_completed_frameworks). Default 50; negative: none kept.
	MaxCompletedFrameworks int
	// MasterID names this master instance in IDs; default derived from
	// the start time.
	MasterID string
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// ServerOptions go to grpc.NewServer in Start: TLS, the authenticating
	// interceptors, rate and size limits (see runtime/security).
	ServerOptions []grpc.ServerOption
	// Authorizer decides who may register frameworks in which roles, run
	// tasks as which users, act on other principals' frameworks and
	// register agents, given the principal runtime/security's interceptors
	// put in each call's context; nil allows everything.
	Authorizer security.Authorizer
	// MaxSchedulerEvents bounds each scheduler's queue of events not yet
	// handed to its stream; a scheduler that lets more pile up is
	// disconnected with ResourceExhausted (it may subscribe again) and
	// the others carry on. Default 32768; negative: unbounded.
	MaxSchedulerEvents int
	// HTTP secures the HTTP server (httpauth.go): HTTPS, who may read
	// state and sandboxes, the identity shown to agents.
	HTTP HTTPSecurity
	// OperatorCredentials identify operators on the HTTP operator
	// endpoints (kill, drain; see operator.go) by bearer token. With an
	// Authorizer other than AllowAll those endpoints need a principal the
	// ACL allows; without one they answer loopback clients only.
	OperatorCredentials *security.Credentials

	// AuthFailures, when set, throttles and logs failed authentications
	// per peer address (see security.Failures): certificates of the wrong
	// role on the gRPC services (CertRoles) and operators' failed tokens.
	// Give the same one to the Authenticators in ServerOptions and
	// HTTP.Auth, so that one budget covers a peer on every protocol.
	AuthFailures *security.Failures
	// MaxConnections bounds the connections each listener (gRPC, HTTP)
	// holds at once (security.LimitListener). Default
	// security.DefaultMaxConnections; negative: unbounded.
	MaxConnections int
	// HandshakeTimeout bounds a new connection's TLS handshake (on gRPC
	// with the HTTP/2 preface, on HTTP with the request headers) on every
	// listener of the master; it overrides a grpc.ConnectionTimeout in
	// ServerOptions (security.ServerOptions adds one). Default
	// security.DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// HA configures leader election; the zero value runs a master alone.
	HA HAConfig
}

// HAConfig makes the master one of several, elected on etcd (election.go).
type HAConfig struct {
	// Etcd lists etcd client URLs; empty runs the master alone, always
	// leading, as without standbys.
	Etcd []string
	// Prefix roots this cluster's keys in etcd. Default "/mezzo".
	Prefix string
	// LeaseTTL is the election lease's time to live (whole seconds, at
	// least 1): a leader that dies is replaced after about this long, and
	// one cut from etcd stops acting before it ends. Default 2 s.
	LeaseTTL time.Duration
	// Advertise is the address clients are sent to when this master leads;
	// default the bound listen address.
	Advertise string
	// RecoveryFraction is the share of the agents admitted before a
	// failover that must re-register before a new leader allocates
	// (Mesos's allocator waits for 80 %). Default 0.8; 1 waits for all.
	RecoveryFraction float64
	// RecoveryTimeout bounds that wait; agents not back by then are
	// dropped from the registry. Default 10 s. It is also, for every
	// master (with etcd or alone), how long after it starts leading a
	// subscription naming a framework ID it does not know is answered
	// Unavailable (retry: the framework's agents may not be back yet)
	// rather than refused.
	RecoveryTimeout time.Duration
}

// DefaultPingInterval is Config.PingInterval's default.
const DefaultPingInterval = 15 * time.Second

// Defaults of the limits on what one principal may register.
const (
	DefaultMaxFailoverTimeout        = 7 * 24 * time.Hour
	DefaultMaxFrameworksPerPrincipal = 100
	DefaultSubscribeRate             = 10.0
	DefaultSubscribeBurst            = 100
	DefaultMaxCompletedFrameworks    = 50
)

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:5050"
	}
	if c.Policy == "" {
		c.Policy = "drf"
	}
	if c.Registry == nil {
		c.Registry = alloc.DefaultRegistry()
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 5 * c.PingInterval
	}
	if c.AllocationInterval <= 0 {
		c.AllocationInterval = time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 15 * time.Second
	}
	if c.FailoverTimeout <= 0 {
		c.FailoverTimeout = time.Minute
	}
	if c.MaxFailoverTimeout <= 0 {
		c.MaxFailoverTimeout = DefaultMaxFailoverTimeout
	}
	if c.MaxFrameworksPerPrincipal == 0 {
		c.MaxFrameworksPerPrincipal = DefaultMaxFrameworksPerPrincipal
	}
	if c.SubscribeRate == 0 {
		c.SubscribeRate = DefaultSubscribeRate
	}
	if c.SubscribeBurst <= 0 {
		c.SubscribeBurst = DefaultSubscribeBurst
	}
	if c.MaxCompletedFrameworks == 0 {
		c.MaxCompletedFrameworks = DefaultMaxCompletedFrameworks
	}
	if c.MasterID == "" {
		c.MasterID = fmt.Sprintf("m%x", time.Now().UnixNano()&0xffffffffff)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Authorizer == nil {
		c.Authorizer = security.AllowAll{}
	}
	c.HTTP = c.HTTP.withDefaults()
	if c.MaxConnections == 0 {
		c.MaxConnections = security.DefaultMaxConnections
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = security.DefaultHandshakeTimeout
	}
	if c.MaxSchedulerEvents == 0 {
		c.MaxSchedulerEvents = 1 << 15
	}
	if c.HA.Prefix == "" {
		c.HA.Prefix = "/mezzo"
	}
	if c.HA.LeaseTTL <= 0 {
		c.HA.LeaseTTL = 2 * time.Second
	}
	if c.HA.RecoveryFraction <= 0 {
		c.HA.RecoveryFraction = 0.8
	}
	if c.HA.RecoveryTimeout <= 0 {
		c.HA.RecoveryTimeout = 10 * time.Second
	}
	return c
}

// checkGiven refuses values that no default can stand for: zero takes
// the default, but a negative interval, timeout or lease, or a recovery
// fraction that is not a number, is a mistake to report rather than to
// replace by the default in silence.
func (c Config) checkGiven() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ping interval", c.PingInterval}, {"ping timeout", c.PingTimeout}, {"allocation interval", c.AllocationInterval},
		{"offer timeout", c.OfferTimeout}, {"heartbeat interval", c.HeartbeatInterval}, {"failover timeout", c.FailoverTimeout},
		{"handshake timeout", c.HandshakeTimeout}, {"lease TTL", c.HA.LeaseTTL}, {"recovery timeout", c.HA.RecoveryTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("master: %s %v is negative", d.name, d.v)
		}
	}
	if f := c.HA.RecoveryFraction; math.IsNaN(f) || f < 0 {
		return fmt.Errorf("master: recovery fraction %v is not a fraction", f)
	}
	return nil
}

func (c Config) validate() error {
	if err := api.ValidateMasterID(c.MasterID); err != nil {
		return fmt.Errorf("master: %w (it prefixes the agent IDs it hands out)", err)
	}
	if c.PingTimeout < c.PingInterval {
		return fmt.Errorf("master: ping timeout %v is shorter than the ping interval %v", c.PingTimeout, c.PingInterval)
	}
	if c.OfferTimeout < 0 {
		return errors.New("master: negative offer timeout")
	}
	if c.HA.RecoveryFraction > 1 {
		return fmt.Errorf("master: recovery fraction %g is above 1", c.HA.RecoveryFraction)
	}
	if c.FailoverTimeout > c.MaxFailoverTimeout {
		return fmt.Errorf("master: default failover timeout %v is above the maximum failover timeout %v", c.FailoverTimeout, c.MaxFailoverTimeout)
	}
	// A negative rate means no limit; anything else (NaN, -Inf) must be
	// a rate.
	if r := c.SubscribeRate; !(r < 0) || math.IsInf(r, -1) {
		if err := security.CheckRate(r); err != nil {
			return fmt.Errorf("master: subscription %w", err)
		}
	}
	if c.HA.LeaseTTL < time.Second {
		return fmt.Errorf("master: lease TTL %v is under etcd's 1 s minimum", c.HA.LeaseTTL)
	}
	return nil
}
