package security

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Limiter is a token bucket per principal: each principal may make Rate
// calls a second on average and Burst at once. Buckets of principals that
// have been quiet long enough to be full again are dropped, so the map
// stays as small as the set of busy principals.
type Limiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter makes a limiter of rate calls per second with bursts of
// burst. now is the clock (nil: time.Now). A rate that is NaN, infinite
// or negative panics, as a non-positive period does in time.NewTicker: a
// NaN bucket never empties, so the limit would silently be off; callers
// check user input with CheckRate first.
func NewLimiter(rate float64, burst int, now func() time.Time) *Limiter {
	if err := CheckRate(rate); err != nil {
		panic("security.NewLimiter: " + err.Error())
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: rate, burst: float64(max(burst, 1)), now: now, buckets: map[string]*bucket{}}
}

// CheckRate refuses a rate that is not a finite number ≥ 0 (calls a
// second).
func CheckRate(rate float64) error {
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0 {
		return fmt.Errorf("rate %v is not a number of calls a second ≥ 0", rate)
	}
	return nil
}

// maxIdleBuckets is the map size past which full buckets are swept.
const maxIdleBuckets = 4096

// Allow takes a token from principal's bucket, reporting false when it is
// empty.
func (l *Limiter) Allow(principal string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[principal]
	if b == nil {
		if len(l.buckets) >= maxIdleBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[principal] = b
	}
	b.tokens = l.refill(b, now)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Empty reports whether key's bucket has no whole token left, without
// taking one.
func (l *Limiter) Empty(key string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	return b != nil && l.refill(b, now) < 1
}

func (l *Limiter) refill(b *bucket, now time.Time) float64 {
	dt := now.Sub(b.last).Seconds()
	if dt < 0 {
		dt = 0
	}
	return math.Min(l.burst, b.tokens+dt*l.rate)
}

func (l *Limiter) sweep(now time.Time) {
	for p, b := range l.buckets {
		if l.refill(b, now) >= l.burst {
			delete(l.buckets, p)
		}
	}
}

// UnaryInterceptor rate-limits the named full methods
// ("/mezzo.v1.SchedulerAPI/Accept"; none named: every method) per
// principal, answering codes.ResourceExhausted over the limit. It must run
// after the Authenticator's interceptor.
func (l *Limiter) UnaryInterceptor(methods ...string) grpc.UnaryServerInterceptor {
	set := map[string]bool{}
	for _, m := range methods {
		set[m] = true
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if len(set) == 0 || set[info.FullMethod] {
			p := PrincipalFrom(ctx)
			if !l.Allow(p) {
				return nil, status.Errorf(codes.ResourceExhausted, "rate limit: principal %q is over %g calls/s (burst %g); slow down and retry", p, l.rate, l.burst)
			}
		}
		return h(ctx, req)
	}
}

// MethodLimit is a limiter for some methods (full names).
type MethodLimit struct {
	Limiter *Limiter
	Methods []string
}

// ServerConfig gathers what a gRPC server needs to be safe to expose.
type ServerConfig struct {
	// TLS, when set, serves mutual TLS (see ServerTLS).
	TLS *tls.Config
	// Auth finds principals; nil attaches none (everyone is anonymous).
	Auth *Authenticator
	// Limiter and LimitedMethods rate-limit calls per principal.
	Limiter        *Limiter
	LimitedMethods []string
	// MoreLimits rate-limit other methods with limiters of their own.
	MoreLimits []MethodLimit
	// MaxRecvMsgSize bounds one request (default 4 MiB).
	MaxRecvMsgSize int
	// MaxConcurrentStreams bounds streams per connection (default 256).
	MaxConcurrentStreams uint32
	// HandshakeTimeout bounds a new connection's TLS handshake and HTTP/2
	// preface (default DefaultHandshakeTimeout): a connection that never
	// completes them is closed instead of holding a descriptor for good.
	// Bound the number of connections with LimitListener.
	HandshakeTimeout time.Duration
}

// DefaultMaxRecvMsgSize bounds a request message.
const DefaultMaxRecvMsgSize = 4 << 20

// DefaultHandshakeTimeout bounds a connection's handshake (gRPC's own
// default is two minutes).
const DefaultHandshakeTimeout = 10 * time.Second

// ServerOptions turns c into grpc.NewServer options.
func ServerOptions(c ServerConfig) []grpc.ServerOption {
	if c.MaxRecvMsgSize <= 0 {
		c.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = 256
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(c.MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(c.MaxConcurrentStreams),
		grpc.ConnectionTimeout(c.HandshakeTimeout),
	}
	if c.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(c.TLS)))
	}
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	if c.Auth != nil {
		unary = append(unary, c.Auth.UnaryInterceptor())
		stream = append(stream, c.Auth.StreamInterceptor())
	}
	if c.Limiter != nil {
		unary = append(unary, c.Limiter.UnaryInterceptor(c.LimitedMethods...))
	}
	for _, l := range c.MoreLimits {
		if l.Limiter != nil && len(l.Methods) > 0 {
			unary = append(unary, l.Limiter.UnaryInterceptor(l.Methods...))
		}
	}
	if len(unary) > 0 {
		opts = append(opts, grpc.ChainUnaryInterceptor(unary...))
	}
	if len(stream) > 0 {
		opts = append(opts, grpc.ChainStreamInterceptor(stream...))
	}
	return opts
}
