package security

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// countingListener records how many accepted connections are open at
// once, and the most there ever were.
type countingListener struct {
	net.Listener
	open, most, accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	n := l.open.Add(1)
	for {
		m := l.most.Load()
		if n <= m || l.most.CompareAndSwap(m, n) {
			break
		}
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// Connections that never start a TLS handshake hold at most the
// listener's bound at once, each for at most the handshake timeout: the
// server closes them, then serves a real client.
func TestPreHandshakeConnectionsAreBoundedAndTimedOut(t *testing.T) {
	c := newCluster(t)
	stc, err := ServerTLS(c.files("master"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingListener{Listener: raw}
	srv := grpc.NewServer(ServerOptions(ServerConfig{TLS: stc, Auth: &Authenticator{Required: true}, HandshakeTimeout: 300 * time.Millisecond})...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(LimitListener(counted, 2)) }()
	t.Cleanup(srv.Stop)

	const idle = 6
	closed := make(chan struct{}, idle)
	for i := 0; i < idle; i++ {
		conn, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		go func() {
			// Say nothing; the server must hang up.
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err := io.Copy(io.Discard, conn)
			if err == nil {
				closed <- struct{}{}
			}
		}()
	}
	for i := 0; i < idle; i++ {
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d silent connections closed by the server within 30 s", i, idle)
		}
	}
	if m := counted.most.Load(); m > 2 {
		t.Errorf("%d connections were held at once; the bound is 2", m)
	}
	cfg, err := ClientTLS(c.files("framework"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := check(t, raw.Addr().String(), DialOptions(cfg, "")); err != nil {
		t.Errorf("a real client after the flood: %v", err)
	}
}
