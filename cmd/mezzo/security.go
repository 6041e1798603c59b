package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// securityFlags are the TLS, identity and authorization flags shared by
// the master, the agent and the client commands (see runtime/security).
type securityFlags struct {
	server       bool
	role         security.Role // what --tls-cert must be bound to
	tls          security.TLSFiles
	credentials  string
	acl          string
	tokenFile    string
	insecure     bool
	rate         float64
	burst        int
	agentRate    float64
	agentBurst   int
	failRate     float64
	failBurst    int
	maxConns     int
	handshake    time.Duration
	authFailures *security.Failures
}

// addSecurityFlags registers the flags; server says whether the command
// serves (master) or only dials (agent towards the master, clients).
// Their --tls-cert must be a master's or a client's certificate; the
// agent sets role to agent.
func addSecurityFlags(fs *flag.FlagSet, server bool) *securityFlags {
	s := &securityFlags{server: server, role: security.RoleClient}
	if server {
		s.role = security.RoleMaster
	}
	fs.StringVar(&s.tls.Cert, "tls-cert", "", "PEM certificate presented to peers (mutual TLS; see: mezzo certs init)")
	fs.StringVar(&s.tls.Key, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&s.tls.CA, "tls-ca", "", "PEM CA that peers' certificates must chain to")
	if server {
		fs.StringVar(&s.credentials, "credentials", "", "JSON credentials file: principals and their bearer-token secrets")
		fs.StringVar(&s.acl, "acl", "", "JSON ACL file (default deny when given; see runtime/security)")
		fs.BoolVar(&s.insecure, "insecure", false, "allow serving without TLS on a non-loopback address")
		fs.Float64Var(&s.rate, "rate-limit", 100, "scheduler calls per second allowed per principal (0: unlimited)")
		fs.IntVar(&s.burst, "rate-burst", 200, "burst of scheduler calls allowed per principal")
		fs.Float64Var(&s.agentRate, "agent-rate-limit", 100000, "agent calls per second allowed per principal, with TLS or --credentials (0: unlimited); agents sharing a certificate share it")
		fs.IntVar(&s.agentBurst, "agent-rate-burst", 200000, "burst of agent calls allowed per principal")
		addServerLimitFlags(fs, s)
	} else {
		fs.StringVar(&s.tokenFile, "token-file", "", "file holding this client's bearer token")
	}
	return s
}

// addServerLimitFlags registers the bounds of a serving process (the
// master; the agent's --http): failed authentications per peer address,
// connections per listener, the handshake deadline.
func addServerLimitFlags(fs *flag.FlagSet, s *securityFlags) {
	fs.Float64Var(&s.failRate, "auth-failure-rate", security.DefaultFailureRate, "failed authentications a second allowed per peer address; past --auth-failure-burst, its calls are refused unchecked (gRPC ResourceExhausted, HTTP 429) until it slows down")
	fs.IntVar(&s.failBurst, "auth-failure-burst", security.DefaultFailureBurst, "failed authentications allowed at once per peer address")
	fs.IntVar(&s.maxConns, "max-connections", security.DefaultMaxConnections, "connections each listener holds at once (more wait in the kernel's backlog)")
	fs.DurationVar(&s.handshake, "handshake-timeout", security.DefaultHandshakeTimeout, "a new connection's TLS handshake (and, on HTTP, its request headers) must arrive within this")
}

// check refuses security flags that make no sense, naming the flag: files
// that are not there, half a key pair, rates that are not numbers.
func (s *securityFlags) check(fs *flag.FlagSet) error {
	rules := []flagRule{existingFile("tls-cert"), existingFile("tls-key"), existingFile("tls-ca")}
	if s.server {
		rules = append(rules, existingFile("credentials"), existingFile("acl"),
			rate("rate-limit"), atLeast("rate-burst", 1), rate("agent-rate-limit"), atLeast("agent-rate-burst", 1))
	} else {
		rules = append(rules, existingFile("token-file"))
	}
	if fs.Lookup("auth-failure-rate") != nil {
		rules = append(rules, positive("auth-failure-rate"), atLeast("auth-failure-burst", 1),
			positive("max-connections"), positive("handshake-timeout"))
	}
	if err := checkFlags(fs, rules...); err != nil {
		return err
	}
	t := s.tls
	switch {
	case (t.Cert == "") != (t.Key == ""):
		return errors.New("--tls-cert and --tls-key go together: give both (a key pair) or neither")
	case t.Cert != "" && t.CA == "":
		return errors.New("--tls-cert needs --tls-ca, the CA that peers' certificates must chain to")
	case s.server && t.CA != "" && t.Cert == "":
		return errors.New("--tls-ca on a server needs --tls-cert and --tls-key: the server shows its own certificate")
	case !s.server && t.CA != "" && t.Cert == "" && s.tokenFile == "":
		return errors.New("--tls-ca without --tls-cert names no one: give --tls-cert and --tls-key, or --token-file")
	}
	if t.Cert != "" {
		role, err := security.CertFileRole(t.Cert)
		if err != nil {
			return fmt.Errorf("--tls-cert %s: %w", t.Cert, err)
		}
		if role != s.role {
			return fmt.Errorf("--tls-cert %s is bound to role %s; this command needs %s certificate (see mezzo certs init)", t.Cert, role, article(s.role))
		}
	}
	return nil
}

// failures is the process's one throttle and log of failed
// authentications, shared by its gRPC and HTTP servers so a peer has one
// budget whatever it calls. The master and the agent (for its --http)
// register --auth-failure-rate and --auth-failure-burst, which check
// refuses when not positive.
func (s *securityFlags) failures(log *slog.Logger) *security.Failures {
	if s.authFailures == nil {
		s.authFailures = security.NewFailures(security.FailureOptions{Rate: s.failRate, Burst: s.failBurst, Logger: log})
	}
	return s.authFailures
}

// serverOptions builds the master's gRPC options and authorizer. A
// master on a non-loopback address without TLS is refused unless
// --insecure.
func (s *securityFlags) serverOptions(listen string, log *slog.Logger) ([]grpc.ServerOption, security.Authorizer, error) {
	tlsOn := s.tls.Enabled()
	if err := security.CheckListen(listen, tlsOn, s.insecure); err != nil {
		return nil, nil, err
	}
	// --handshake-timeout and --max-connections go to master.Config, which
	// governs the master's listeners.
	sc := security.ServerConfig{LimitedMethods: masterLimitedMethods()}
	if tlsOn {
		cfg, err := security.ServerTLS(s.tls)
		if err != nil {
			return nil, nil, err
		}
		sc.TLS = cfg
	}
	auth := &security.Authenticator{Required: tlsOn, Failures: s.failures(log)}
	if s.credentials != "" {
		creds, err := security.LoadCredentials(s.credentials)
		if err != nil {
			return nil, nil, err
		}
		auth.Credentials, auth.Required = creds, true
		if sc.TLS != nil {
			// A bearer token names its caller as well as a certificate
			// does: the handshake takes either, and the authenticator
			// refuses a call that has neither (Required).
			sc.TLS.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	sc.Auth = auth
	if s.rate > 0 {
		sc.Limiter = security.NewLimiter(s.rate, s.burst, nil)
	}
	// Without identities every agent is the anonymous principal: a limit
	// would throttle the whole cluster as one, so there is none.
	if s.agentRate > 0 && auth.Required {
		sc.MoreLimits = append(sc.MoreLimits, security.MethodLimit{
			Limiter: security.NewLimiter(s.agentRate, s.agentBurst, nil), Methods: master.AgentLimitedMethods})
	}
	var authz security.Authorizer = security.AllowAll{}
	if s.acl != "" {
		if !auth.Required {
			return nil, nil, errors.New("--acl needs callers with identities: give --tls-cert/--tls-key/--tls-ca or --credentials")
		}
		acl, err := security.LoadACL(s.acl)
		if err != nil {
			return nil, nil, err
		}
		authz = acl
	}
	return security.ServerOptions(sc), authz, nil
}

// dialOptions are a client's gRPC options towards the master(s) at addr
// (comma-separated): mutual TLS when the TLS flags are given (with only
// --tls-ca and --token-file: TLS that verifies the master, the token
// naming the client), each master's certificate checked against the host
// it is reached at (api.DialMasters names each address's host, also after
// a standby's redirect), and a bearer token from --token-file when given.
func (s *securityFlags) dialOptions(addr string) ([]grpc.DialOption, error) {
	var token string
	if s.tokenFile != "" {
		t, err := security.ReadTokenFile(s.tokenFile)
		if err != nil {
			return nil, err
		}
		token = t
	}
	if !s.tls.Enabled() {
		return security.DialOptions(nil, token), nil
	}
	for _, a := range splitList(addr) {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("master address %q: %w", a, err)
		}
	}
	if s.tls.Cert == "" && s.tls.Key == "" && token != "" {
		// Token-only: verify the master against the CA and its role
		// before the token goes out, show no certificate.
		cfg, err := security.MasterCAOnlyTLS(s.tls.CA)
		if err != nil {
			return nil, err
		}
		return security.DialOptions(cfg, token), nil
	}
	cfg, err := security.ClientTLS(s.tls, "")
	if err != nil {
		return nil, err
	}
	return security.DialOptions(cfg, token), nil
}

// masterHTTP secures the master's HTTP server like its gRPC server: with
// the TLS flags it serves HTTPS (a client certificate is verified when
// given, else a bearer token from --credentials names the caller) and
// shows the master's certificate to agents' sandbox servers. It refuses
// plaintext on a non-loopback address unless --insecure. Which
// certificate roles are admitted, and that the sandbox proxy speaks only
// to agents, is the master's to decide (master.HTTPSecurity).
func (s *securityFlags) masterHTTP(addr string, log *slog.Logger) (master.HTTPSecurity, *security.Credentials, error) {
	var h master.HTTPSecurity
	tlsOn := s.tls.Enabled()
	if err := security.CheckListen(addr, tlsOn, s.insecure); err != nil {
		return h, nil, fmt.Errorf("--http: %w", err)
	}
	var creds *security.Credentials
	if s.credentials != "" {
		c, err := security.LoadCredentials(s.credentials)
		if err != nil {
			return h, nil, err
		}
		creds = c
	}
	if tlsOn {
		srv, err := security.HTTPServerTLS(s.tls)
		if err != nil {
			return h, nil, err
		}
		// The master's key pair and CA; the proxy replaces the master-role
		// check with its own agent-role check.
		cli, err := security.ClientTLS(s.tls, "")
		if err != nil {
			return h, nil, err
		}
		h.TLS, h.AgentTLS = srv, cli
	}
	if tlsOn || creds != nil {
		h.Auth = &security.Authenticator{Credentials: creds, Required: true, Failures: s.failures(log)}
	}
	return h, creds, nil
}

// agentHTTP secures an agent's HTTP server: with the TLS flags it serves
// HTTPS and authenticates callers; agent.Agent.Handler then admits the
// certificate roles it takes and only --sandbox-readers (checked non-empty
// with the other flags) to the sandboxes. /metrics and /health stay open.
func (s *securityFlags) agentHTTP(log *slog.Logger) (*tls.Config, *security.Authenticator, error) {
	if !s.tls.Enabled() {
		return nil, nil, nil
	}
	cfg, err := security.HTTPServerTLS(s.tls)
	if err != nil {
		return nil, nil, err
	}
	return cfg, &security.Authenticator{Required: true, Failures: s.failures(log)}, nil
}

// article is "a ROLE" or "an ROLE".
func article(r security.Role) string {
	if strings.ContainsRune("aeiou", rune(r[0])) {
		return "an " + string(r)
	}
	return "a " + string(r)
}
