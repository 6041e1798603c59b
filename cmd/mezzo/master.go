package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

func runMaster(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mezzo master", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5050", "address to serve schedulers and agents on")
	policy := fs.String("policy", "drf", "allocation policy: "+strings.Join(alloc.DefaultRegistry().Names(), ", "))
	seed := fs.Uint64("seed", 1, "seed of policies that draw at random")
	ping := fs.Duration("ping-interval", master.DefaultPingInterval, "how often agents are pinged (Mesos's agent_ping_timeout)")
	pingTimeout := fs.Duration("ping-timeout", 0, "silence after which an agent is removed (0: 5 × ping interval)")
	allocEvery := fs.Duration("allocation-interval", time.Second, "period of full allocation cycles (freed resources are offered at once)")
	offerTimeout := fs.Duration("offer-timeout", 0, "rescind offers unanswered this long (0: never)")
	failover := fs.Duration("failover-timeout", time.Minute, "how long a disconnected framework keeps its tasks, unless it names its own (positive)")
	lim := addTenantLimitFlags(fs)
	sec := addSecurityFlags(fs, true)
	logf := addLogFlags(fs, "info")
	etcd := fs.String("etcd", "", "etcd client URLs (comma-separated): run as leader or standby, elected on etcd (empty: a single master)")
	etcdPrefix := fs.String("etcd-prefix", "/mezzo", "etcd key prefix of this cluster")
	advertise := fs.String("advertise", "", "address clients reach this master at when it leads (default: the listen address)")
	leaseTTL := fs.Duration("lease-ttl", 2*time.Second, "leader lease; a dead leader is replaced after about this long")
	httpAddr := fs.String("http", "", "serve metrics, state, and the web UI on this address, e.g. 127.0.0.1:5051 (empty: no HTTP)")
	prof := profileFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := checkFlags(fs,
		hostPort("listen"), knownPolicy("policy"),
		positive("ping-interval"), nonNegative("ping-timeout"), positive("allocation-interval"),
		nonNegative("offer-timeout"), positive("failover-timeout"),
		etcdEndpoints("etcd"), nonEmpty("etcd-prefix"), optionalHostPort("advertise"), wholeSeconds("lease-ttl"),
		optionalHostPort("http"),
	); err != nil {
		return err
	}
	if *pingTimeout != 0 && *pingTimeout < *ping {
		return fmt.Errorf("--ping-timeout %v is shorter than --ping-interval %v: every agent would be removed between two pings", *pingTimeout, *ping)
	}
	if err := lim.check(fs, *failover); err != nil {
		return err
	}
	if err := sec.check(fs); err != nil {
		return err
	}
	stopProf, err := prof.start()
	if err != nil {
		return err
	}
	defer func() { _ = stopProf() }()
	log, err := logf.logger()
	if err != nil {
		return err
	}
	srvOpts, authz, err := sec.serverOptions(*listen, log)
	if err != nil {
		return err
	}
	var httpSec master.HTTPSecurity
	var opCreds *security.Credentials
	if *httpAddr != "" {
		if httpSec, opCreds, err = sec.masterHTTP(*httpAddr, log); err != nil {
			return err
		}
	}
	cfg := master.Config{
		Listen: *listen, Policy: *policy, PolicyOptions: alloc.PolicyOptions{Seed: *seed},
		PingInterval: *ping, PingTimeout: *pingTimeout, AllocationInterval: *allocEvery,
		OfferTimeout: *offerTimeout, FailoverTimeout: *failover, Logger: log,
		ServerOptions: srvOpts, Authorizer: authz, HTTP: httpSec, OperatorCredentials: opCreds,
		AuthFailures: sec.failures(log), MaxConnections: sec.maxConns, HandshakeTimeout: sec.handshake,
		HA: master.HAConfig{Etcd: splitList(*etcd), Prefix: *etcdPrefix, Advertise: *advertise, LeaseTTL: *leaseTTL},
	}
	lim.apply(&cfg)
	m, err := master.New(cfg)
	if err != nil {
		return err
	}
	if *httpAddr == "" {
		return m.Serve(ctx)
	}
	if _, err := m.Start(ctx); err != nil {
		return err
	}
	if _, err := m.StartHTTP(*httpAddr); err != nil {
		m.Stop()
		return err
	}
	<-m.Done()
	return nil
}

// parseFlags parses a subcommand's flags; -h prints the help and ends the
// command successfully.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		return fmt.Errorf("%w (see %s -h)", err, fs.Name())
	}
	return nil
}

// parseNoArgs parses the flags of a command that takes no positional
// arguments. done is true when -h printed the help and there is nothing
// more to do.
func parseNoArgs(fs *flag.FlagSet, args []string) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, err
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return false, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// tenantLimitFlags bound what one principal may make the master hold:
// subscriptions a second, frameworks at once, how long a framework's tasks
// outlive its scheduler, and how many removed frameworks are remembered.
type tenantLimitFlags struct {
	maxFrameworks  int
	maxFailover    time.Duration
	subscribeRate  float64
	subscribeBurst int
	maxCompleted   int
}

func addTenantLimitFlags(fs *flag.FlagSet) *tenantLimitFlags {
	l := &tenantLimitFlags{}
	fs.IntVar(&l.maxFrameworks, "max-frameworks-per-principal", master.DefaultMaxFrameworksPerPrincipal,
		"frameworks one principal may have registered at once (0: no cap); without authentication all callers are one principal")
	fs.DurationVar(&l.maxFailover, "max-failover-timeout", master.DefaultMaxFailoverTimeout,
		"longest failover timeout a framework may ask for; a subscription asking for more is refused")
	fs.Float64Var(&l.subscribeRate, "subscribe-rate-limit", master.DefaultSubscribeRate,
		"subscriptions per second allowed per principal (0: unlimited)")
	fs.IntVar(&l.subscribeBurst, "subscribe-rate-burst", master.DefaultSubscribeBurst,
		"burst of subscriptions allowed per principal")
	fs.IntVar(&l.maxCompleted, "max-completed-frameworks", master.DefaultMaxCompletedFrameworks,
		"removed frameworks the master remembers (their stats, and that their IDs may not come back)")
	return l
}

// check refuses values that make no sense, naming the flag: the rules of
// the limit flags, then a --failover-timeout above the most a framework
// may ask for.
func (l *tenantLimitFlags) check(fs *flag.FlagSet, failover time.Duration) error {
	if err := checkFlags(fs,
		nonNegative("max-frameworks-per-principal"), positive("max-failover-timeout"),
		rate("subscribe-rate-limit"), atLeast("subscribe-rate-burst", 1), nonNegative("max-completed-frameworks"),
	); err != nil {
		return err
	}
	if failover > l.maxFailover {
		return fmt.Errorf("--failover-timeout %v is above --max-failover-timeout %v", failover, l.maxFailover)
	}
	return nil
}

// apply puts the limits in a master's configuration, whose zero values
// mean the defaults and negative ones none.
func (l *tenantLimitFlags) apply(c *master.Config) {
	c.MaxFrameworksPerPrincipal = l.maxFrameworks
	if l.maxFrameworks == 0 {
		c.MaxFrameworksPerPrincipal = -1
	}
	c.MaxFailoverTimeout = l.maxFailover
	c.SubscribeRate, c.SubscribeBurst = l.subscribeRate, l.subscribeBurst
	if l.subscribeRate == 0 {
		c.SubscribeRate = -1
	}
	c.MaxCompletedFrameworks = l.maxCompleted
	if l.maxCompleted == 0 {
		c.MaxCompletedFrameworks = -1
	}
}
