package master

import (
	"errors"
	"fmt"
	"log/slog"
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
	// dropped from the registry. Default 10 s.
	RecoveryTimeout time.Duration
}

// DefaultPingInterval is Config.PingInterval's default.
const DefaultPingInterval = 15 * time.Second

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
	if c.HA.LeaseTTL < time.Second {
		return fmt.Errorf("master: lease TTL %v is under etcd's 1 s minimum", c.HA.LeaseTTL)
	}
	return nil
}
