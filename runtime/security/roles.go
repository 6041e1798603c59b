package security

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// RoleGuard admits certificates to a gRPC server's services by role:
// Services maps a full service name ("mezzo.v1.AgentAPI") to the roles
// whose certificates may call it. It reads the connection's verified
// certificate itself, whatever authenticated the call: a certificate's
// role limits what its connection may do even when a bearer token names
// the caller, per service as the Authenticator's Roles do for the whole
// server. Calls over connections without a certificate (token clients,
// plaintext) are left to the Authenticator and the ACL; services not
// listed admit every role.
type RoleGuard struct {
	Services map[string][]Role
	// Failures, when set, logs refusals with the other authentication
	// failures.
	Failures *Failures
}

// check refuses a call to fullMethod ("/pkg.Service/Method") over a
// connection whose certificate's role the service does not admit.
func (g RoleGuard) check(ctx context.Context, fullMethod string) error {
	service := strings.TrimPrefix(fullMethod, "/")
	if i := strings.LastIndexByte(service, '/'); i >= 0 {
		service = service[:i]
	}
	roles, ok := g.Services[service]
	if !ok {
		return nil
	}
	addr, cert := grpcPeer(ctx)
	if cert == nil {
		return nil
	}
	f := admitRole(cert, roles, service+" takes calls from")
	if f == nil {
		return nil
	}
	g.Failures.failed(addr, fullMethod, f.msg, f.principal)
	return status.Error(f.code, f.msg)
}

// ServerOptions are the guard's interceptors for grpc.NewServer; give them
// after the Authenticator's (ServerOptions), which they follow.
func (g RoleGuard) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := g.check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := g.check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}
