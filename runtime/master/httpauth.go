package master

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// HTTPSecurity secures the master's HTTP server (Handler, StartHTTP) the
// way ServerOptions and Authorizer secure its gRPC server.
//
// Who may read what:
//
//   - /metrics and /health are open to anyone who reaches the port:
//     Prometheus scrapers and load-balancer probes carry no credentials,
//     and neither endpoint names frameworks, tasks or users (counts and
//     resource totals only). Put the HTTP address on a network only
//     operators reach if even those must stay private.
//   - /state, /frameworks, /agents, /tasks and the UI need view_state.
//   - /sandbox/... and the UI's sandbox page need the framework to be the
//     caller's own, or read_sandbox over its principal (the UI page needs
//     view_state too).
//   - /api/v1/... (operator.go) authenticate and authorize themselves.
//
// A caller names itself with a verified client certificate (HTTPS) or an
// "Authorization: Bearer TOKEN" header checked against Auth's credentials.
// With no Auth and no ACL the endpoints are open (a loopback test cluster);
// with an ACL and no Auth only verified client certificates count.
type HTTPSecurity struct {
	// TLS, when set, serves HTTPS (see security.HTTPServerTLS).
	TLS *tls.Config
	// Auth authenticates callers; see above for nil. Its Roles, when nil,
	// admit client certificates only.
	Auth *security.Authenticator
	// AgentTLS is what the sandbox proxy presents to agents' HTTPS servers:
	// the master's own certificate, so that agents can admit the master
	// only, and the CA it verifies them against (security.ClientTLS of the
	// master's files). Its VerifyConnection is replaced: the proxy
	// accepts only a server whose certificate is bound to the agent role.
	// Nil speaks plain HTTP to agents.
	AgentTLS *tls.Config

	agentClient *http.Client
}

func (h HTTPSecurity) withDefaults() HTTPSecurity {
	if h.AgentTLS != nil {
		// Whatever the caller built, the proxy speaks to agents: a server
		// whose certificate is not an agent's (a master's, a client's made
		// into a server) gets no sandbox request.
		h.AgentTLS = h.AgentTLS.Clone()
		h.AgentTLS.VerifyConnection = security.VerifyServerRole(security.RoleAgent)
	}
	if h.agentClient == nil {
		h.agentClient = sandboxClient
		if h.AgentTLS != nil {
			h.agentClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				TLSClientConfig: h.AgentTLS, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute,
			}}
		}
	}
	return h
}

// agentURL is the base URL of an agent's HTTP server at addr.
func (h HTTPSecurity) agentURL(addr string) string {
	if h.AgentTLS != nil {
		return "https://" + addr
	}
	return "http://" + addr
}

func (h HTTPSecurity) listener(lis net.Listener) net.Listener {
	if h.TLS == nil {
		return lis
	}
	return tls.NewListener(lis, h.TLS)
}

// guardHTTP applies HTTPSecurity's rules to the master's mux.
func (m *Master) guardHTTP(mux http.Handler) http.Handler {
	auth := m.cfg.HTTP.Auth
	if auth == nil {
		if !m.aclEnforced() {
			return mux
		}
		auth = &security.Authenticator{Required: true, Failures: m.cfg.AuthFailures}
	}
	if auth.Roles == nil {
		// Operators and their browsers hold client certificates; an
		// agent's or a master's certificate reads no state here.
		a := *auth
		a.Roles = []security.Role{security.RoleClient}
		auth = &a
	}
	guarded := security.Guard(auth, m.allowHTTP, mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/metrics" || p == "/health":
			mux.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/api/"):
			mux.ServeHTTP(w, r) // operator endpoints check their callers
		default:
			guarded.ServeHTTP(w, r)
		}
	})
}

// allowHTTP checks view_state for everything guarded but the sandbox
// proxy, whose check (mayReadSandbox) needs the framework.
func (m *Master) allowHTTP(r *http.Request, principal string) error {
	if strings.HasPrefix(r.URL.Path, "/sandbox/") {
		return nil
	}
	return m.authorize(r.Context(), principal, security.ViewState, "")
}

// frameworkPrincipal is the principal that registered framework id.
func (v *View) frameworkPrincipal(id mezzo.FrameworkID) (string, bool) {
	for _, f := range v.Frameworks {
		if f.ID == id {
			return f.Principal, true
		}
	}
	return "", false
}

// mayReadSandbox lets the caller (the principal in ctx) read the sandboxes
// of its own frameworks, and of other principals' frameworks when the ACL
// grants it read_sandbox over their principal. It returns the HTTP status
// of a refusal. A caller that may not read the framework's sandboxes is
// refused in the same words whether the framework exists or not, and is
// not told whose it is; only one that may read every framework's is told
// a framework is unknown.
func (m *Master) mayReadSandbox(ctx context.Context, v *View, fw mezzo.FrameworkID) (int, error) {
	if !m.aclEnforced() {
		return 0, nil
	}
	p := security.PrincipalFrom(ctx)
	owner, ok := v.frameworkPrincipal(fw)
	switch {
	case ok && p != "" && p == owner:
		return 0, nil
	case ok && m.cfg.Authorizer.Allow(ctx, p, security.ReadSandbox, owner) == nil:
		return 0, nil
	case !ok && m.cfg.Authorizer.Allow(ctx, p, security.ReadSandbox, security.Any) == nil:
		return http.StatusNotFound, fmt.Errorf("framework %s is not known to the master", fw)
	}
	if !ok {
		owner = "(none: no such framework)"
	}
	m.log.Warn("not authorized", "principal", p, "action", string(security.ReadSandbox), "object", owner, "framework", string(fw))
	return http.StatusForbidden, errors.New(notActable(p, security.ReadSandbox, "the sandboxes of framework "+string(fw)))
}
