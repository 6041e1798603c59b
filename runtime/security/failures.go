package security

import (
	"context"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"
)

// Failures throttles and logs failed authentications per peer address,
// for an Authenticator (its Failures field), on gRPC and HTTP alike.
//
// Throttling: each peer address (the IP, whatever the port: a guesser
// opens new connections) has a token bucket of failures. Once it is
// empty, calls from that address that carry a token, or no verified
// certificate, are refused (ResourceExhausted, HTTP 429) after a short
// delay, without their token even being checked: a guesser learns nothing
// more and gets a few guesses a second, not thousands. A verified
// certificate alone costs nothing to check and cannot be guessed, so it
// still gets in.
// Everyone behind one address shares its budget: a token client on the
// same host as a guesser is refused with it until the guessing stops.
//
// Logging: the first failure of a peer is logged at once (peer, method,
// reason, and the principal it claimed when a certificate named one; never
// a token); further failures of that peer are counted and logged as one
// summary line a window later, so a flood costs the log a line a window.
type Failures struct {
	bucket   *Limiter
	delay    time.Duration
	slots    chan struct{} // bounds the callers held in the delay at once
	log      *slog.Logger
	logEvery time.Duration
	now      func() time.Time

	mu     sync.Mutex
	window map[string]*peerFailures // peers that failed in this log window
	other  int                      // failures of peers past maxLoggedPeers
	timer  *time.Timer
}

type peerFailures struct {
	suppressed   int // failures since the first, not logged yet
	method       string
	reason       string
	throttled    int
	windowOpened time.Time
}

// FailureOptions tune NewFailures; zero fields take the defaults.
type FailureOptions struct {
	// Rate is how many failures a second one peer address may have on
	// average, Burst how many at once. Defaults 1 and 20.
	Rate  float64
	Burst int
	// Delay is how long a throttled call waits before it is refused
	// (default 500 ms; at most 64 calls wait at once, the others are
	// refused at once).
	Delay time.Duration
	// Logger receives the failures (default slog.Default()); LogEvery is
	// the summary window (default 10 s).
	Logger   *slog.Logger
	LogEvery time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Defaults of FailureOptions.
const (
	DefaultFailureRate     = 1.0
	DefaultFailureBurst    = 20
	DefaultFailureDelay    = 500 * time.Millisecond
	DefaultFailureLogEvery = 10 * time.Second
	maxDelayed             = 64
	maxLoggedPeers         = 1024
)

// NewFailures makes a failure throttle and log. It panics on a rate that
// is not a finite non-negative number (see NewLimiter).
func NewFailures(o FailureOptions) *Failures {
	if o.Rate == 0 {
		o.Rate = DefaultFailureRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultFailureBurst
	}
	if o.Delay == 0 {
		o.Delay = DefaultFailureDelay
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogEvery <= 0 {
		o.LogEvery = DefaultFailureLogEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Failures{
		bucket: NewLimiter(o.Rate, o.Burst, o.Now), delay: max(o.Delay, 0), slots: make(chan struct{}, maxDelayed),
		log: o.Logger, logEvery: o.LogEvery, now: o.Now, window: map[string]*peerFailures{},
	}
}

// peerIP is the address a failure is charged to: the IP of host:port.
func peerIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// throttled reports whether peer has used up its failures; it then holds
// the caller for the delay (or until ctx ends) and records the refusal.
func (f *Failures) throttled(ctx context.Context, peer, method string) bool {
	if f == nil || !f.bucket.Empty(peer) {
		return false
	}
	f.record(peer, method, "throttled: too many failed authentications from this address", "", true)
	if f.delay > 0 {
		select {
		case f.slots <- struct{}{}:
			t := time.NewTimer(f.delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			<-f.slots
		default: // enough callers wait already: answer this one at once
		}
	}
	return true
}

// failed charges a failure to peer and logs it.
func (f *Failures) failed(peer, method, reason, principal string) {
	if f == nil {
		return
	}
	f.bucket.Allow(peer)
	f.record(peer, method, reason, principal, false)
}

func (f *Failures) record(peer, method, reason, principal string, throttled bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pf := f.window[peer]
	if pf == nil {
		if len(f.window) >= maxLoggedPeers {
			f.other++
			f.arm()
			return
		}
		f.window[peer] = &peerFailures{windowOpened: f.now()}
		attrs := []any{"peer", peer, "method", method, "reason", reason}
		if principal != "" {
			attrs = append(attrs, "principal", principal)
		}
		f.log.Warn("authentication failed", attrs...)
		f.arm()
		return
	}
	pf.suppressed++
	pf.method, pf.reason = method, reason
	if throttled {
		pf.throttled++
	}
}

// arm starts the summary timer of the window if it is not running.
func (f *Failures) arm() {
	if f.timer == nil {
		f.timer = time.AfterFunc(f.logEvery, f.flush)
	}
}

// flush logs the window's counts, in peer order, and opens a new window:
// the next failure of each peer is logged in full again.
func (f *Failures) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timer = nil
	peers := make([]string, 0, len(f.window))
	for p := range f.window {
		peers = append(peers, p)
	}
	sort.Strings(peers)
	for _, p := range peers {
		pf := f.window[p]
		if pf.suppressed > 0 {
			f.log.Warn("authentication failures", "peer", p, "more", pf.suppressed, "throttled", pf.throttled,
				"since", f.now().Sub(pf.windowOpened).Round(time.Millisecond).String(), "last_method", pf.method, "last_reason", pf.reason)
		}
	}
	if f.other > 0 {
		f.log.Warn("authentication failures", "peer", "(other addresses)", "more", f.other)
	}
	f.window, f.other = map[string]*peerFailures{}, 0
}
