package security

import (
	"context"
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

// Authenticator finds who is calling a gRPC server.
type Authenticator struct {
	// Credentials check bearer tokens; nil means tokens are refused.
	Credentials *Credentials
	// Required refuses callers with neither a valid token nor a verified
	// certificate (codes.Unauthenticated).
	Required bool
}

// Authenticate returns the caller's principal: a bearer token's when the
// call carries one (and it is valid), else the verified client
// certificate's, else "" when authentication is not required.
func (a *Authenticator) Authenticate(ctx context.Context) (string, error) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if vals := md.Get("authorization"); len(vals) > 0 {
			tok, ok := strings.CutPrefix(vals[0], "Bearer ")
			if !ok {
				return "", status.Error(codes.Unauthenticated, "authorization metadata is not \"Bearer TOKEN\"")
			}
			if a.Credentials == nil {
				return "", status.Error(codes.Unauthenticated, "bearer token given but this server has no credentials file")
			}
			p, ok := a.Credentials.Lookup(tok)
			if !ok {
				return "", status.Error(codes.Unauthenticated, "invalid bearer token")
			}
			return p, nil
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.PeerCertificates) > 0 {
			return PrincipalFromCert(ti.State.PeerCertificates[0]), nil
		}
	}
	if a.Required {
		return "", status.Error(codes.Unauthenticated, "no credentials: present a client certificate or a bearer token")
	}
	return "", nil
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
