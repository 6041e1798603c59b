package security

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// DefaultMaxConnections is how many connections one listener of the
// cluster holds open at once by default (LimitListener): agents and
// schedulers keep one each (emulated agents share theirs), so it is well
// above a cluster's needs and well below the descriptors a process may
// open.
const DefaultMaxConnections = 4096

// LimitListener bounds the connections open at once through l to n
// (n ≤ 0: no bound). Past it Accept waits, so new connections queue in
// the kernel's backlog rather than in the process: a flood of connections
// that never complete a handshake holds at most n descriptors, each for
// at most the handshake timeout, and the connections already established
// carry on.
func LimitListener(l net.Listener, n int) net.Listener {
	if n <= 0 {
		return l
	}
	return netutil.LimitListener(l, n)
}

// HTTP servers' bounds on what a client may hold before it has sent a
// request: its TLS handshake and request headers must arrive within
// DefaultHandshakeTimeout (http.Server applies ReadHeaderTimeout to the
// handshake too), headers are at most 64 KiB, and an idle keep-alive
// connection is closed after two minutes.
const (
	MaxHeaderBytes  = 64 << 10
	HTTPIdleTimeout = 2 * time.Minute
)

// NewHTTPServer is an http.Server for h with those bounds.
func NewHTTPServer(h http.Handler, handshakeTimeout time.Duration) *http.Server {
	if handshakeTimeout <= 0 {
		handshakeTimeout = DefaultHandshakeTimeout
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: handshakeTimeout, IdleTimeout: HTTPIdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
}
