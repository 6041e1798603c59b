package security

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

type principalKey struct{}

// WithPrincipal returns ctx carrying the caller's principal.
func WithPrincipal(ctx context.Context, principal string) context.Context {
	return context.WithValue(ctx, principalKey{}, principal)
}

// PrincipalFrom is the principal the Authenticator attached to ctx; "" is
// anonymous (no credentials given and none required).
func PrincipalFrom(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// Authenticator finds who is calling a gRPC or HTTP server.
type Authenticator struct {
	// Credentials check bearer tokens; nil means tokens are refused.
	Credentials *Credentials
	// Required refuses callers with neither a valid token nor a verified
	// certificate (codes.Unauthenticated).
	Required bool
	// Roles are the certificate roles this server admits (nil: any).
	// A certificate without a role is always refused. Both hold for every
	// call over a connection with a verified certificate, also when a
	// bearer token names the caller.
	Roles []Role
	// Failures, when set, throttles and logs failed authentications per
	// peer address (see Failures).
	Failures *Failures
}

// authFailure is why a caller was not authenticated: its gRPC code and
// HTTP status, what the caller is told, and the principal it claimed.
type authFailure struct {
	code      codes.Code
	http      int
	msg       string
	principal string
}

// parseBearer reads an Authorization value "Bearer TOKEN". The scheme is
// case-insensitive (RFC 7235: "bearer" and "BEARER" are "Bearer") and
// may be followed by several spaces; the token is the rest, as given.
func parseBearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimLeft(v, " "), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	return tok, tok != ""
}

// check is the decision both protocols share. A verified client
// certificate must be of a role the server admits (Roles) whatever else
// the call carries: a token names the caller but does not lift what its
// connection's certificate is limited to. Then the caller is a bearer
// token's principal when the call carries an Authorization value
// (checked against Credentials), else the certificate's, else anonymous
// unless Required.
func (a *Authenticator) check(authz string, hasAuthz bool, cert *x509.Certificate) (string, *authFailure) {
	if cert != nil {
		if f := admitRole(cert, a.Roles, "this server admits"); f != nil {
			return "", f
		}
	}
	if hasAuthz {
		tok, ok := parseBearer(authz)
		switch {
		case !ok:
			return "", &authFailure{codes.Unauthenticated, 401, `authorization is not "Bearer TOKEN"`, ""}
		case a.Credentials == nil:
			return "", &authFailure{codes.Unauthenticated, 401, "bearer token given but this server has no credentials file", ""}
		}
		p, ok := a.Credentials.Lookup(tok)
		if !ok {
			return "", &authFailure{codes.Unauthenticated, 401, "invalid bearer token", ""}
		}
		return p, nil
	}
	if cert != nil {
		return PrincipalFromCert(cert), nil
	}
	if a.Required {
		return "", &authFailure{codes.Unauthenticated, 401, "", ""}
	}
	return "", nil
}

// admitRole refuses a certificate without a role (Unauthenticated: no
// one can tell what it is for) and, when roles are given, one bound to
// another role (PermissionDenied). where says who refuses, as the
// sentence "…; WHERE client certificates only" puts it.
func admitRole(cert *x509.Certificate, roles []Role, where string) *authFailure {
	p := PrincipalFromCert(cert)
	role, err := CertRole(cert)
	if err != nil {
		return &authFailure{codes.Unauthenticated, 401, err.Error(), p}
	}
	if len(roles) > 0 && !slices.Contains(roles, role) {
		return &authFailure{codes.PermissionDenied, 403, fmt.Sprintf("the certificate of %q is bound to role %s; %s %s certificates only", p, role, where, rolesList(roles)), p}
	}
	return nil
}

func rolesList(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}

// Authenticate returns the caller's principal: a bearer token's when the
// call carries one (and it is valid), else the verified client
// certificate's, else "" when authentication is not required. A verified
// certificate must be bound to one of Roles either way. Failures are charged to the peer's address (Failures); a
// peer over its budget is refused with ResourceExhausted before its token
// is looked at.
func (a *Authenticator) Authenticate(ctx context.Context) (string, error) {
	method, _ := grpc.Method(ctx)
	addr, cert := grpcPeer(ctx)
	var authz string
	var hasAuthz bool
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if vals := md.Get("authorization"); len(vals) > 0 {
			authz, hasAuthz = vals[0], true
		}
	}
	p, f := a.authenticate(ctx, addr, method, authz, hasAuthz, cert, "no credentials: present a client certificate or a bearer token")
	if f != nil {
		return "", status.Error(f.code, f.msg)
	}
	return p, nil
}

// grpcPeer is the address (its IP: failures are charged to it) and the
// verified client certificate (nil without one) of a gRPC call's peer.
func grpcPeer(ctx context.Context) (addr string, cert *x509.Certificate) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", nil
	}
	if p.Addr != nil {
		addr = peerIP(p.Addr.String())
	}
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.PeerCertificates) > 0 {
		cert = ti.State.PeerCertificates[0]
	}
	return addr, cert
}

// authenticate is what both protocols do with a caller: refuse a peer over
// its failure budget before its token is looked at (a caller with only a
// verified certificate is never throttled), decide (check), and charge a
// failure to the peer's address. noCredentials is the protocol's words for
// a caller that showed nothing.
func (a *Authenticator) authenticate(ctx context.Context, addr, method, authz string, hasAuthz bool, cert *x509.Certificate, noCredentials string) (string, *authFailure) {
	if (hasAuthz || cert == nil) && a.Failures.throttled(ctx, addr, method) {
		return "", &authFailure{codes.ResourceExhausted, http.StatusTooManyRequests, fmt.Sprintf("too many failed authentications from %s; wait and retry", addr), ""}
	}
	p, f := a.check(authz, hasAuthz, cert)
	if f == nil {
		return p, nil
	}
	if f.msg == "" {
		f.msg = noCredentials
	}
	a.Failures.failed(addr, method, f.msg, f.principal)
	return "", f
}

// UnaryInterceptor authenticates each unary call and attaches the
// principal to its context.
func (a *Authenticator) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		p, err := a.Authenticate(ctx)
		if err != nil {
			return nil, err
		}
		return h(WithPrincipal(ctx, p), req)
	}
}

// StreamInterceptor authenticates each stream.
func (a *Authenticator) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		p, err := a.Authenticate(ss.Context())
		if err != nil {
			return err
		}
		return h(srv, &principalStream{ServerStream: ss, ctx: WithPrincipal(ss.Context(), p)})
	}
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }
