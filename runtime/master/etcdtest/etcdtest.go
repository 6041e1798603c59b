// Package etcdtest starts a real, embedded etcd server (go.etcd.io/etcd/server/v3/embed)
// on loopback with free ports in a temporary directory, for tests and for the
// failover experiment. The embedded server is the same code as the etcd
// binary, runs inside the test process (no binary to install, no port
// clashes between parallel test packages), and can be stopped and restarted
// on the same data to partition masters from etcd.
//
// Usage:
//
//	e, err := etcdtest.Start(dir)
//	defer e.Close()
//	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints()})
package etcdtest

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is one embedded etcd member.
type Server struct {
	dir          string
	client, peer string // host:port
	etcd         *embed.Etcd
}

// Start runs a one-member etcd cluster with its data in dir (created if
// needed) and waits until it serves.
func Start(dir string) (*Server, error) {
	client, err := freePort()
	if err != nil {
		return nil, err
	}
	peer, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, client: client, peer: peer}
	return s, s.start()
}

func (s *Server) start() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("etcdtest: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Dir = s.dir
	cfg.Name = "mezzo-test"
	cu := url.URL{Scheme: "http", Host: s.client}
	pu := url.URL{Scheme: "http", Host: s.peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.LogLevel = "error"
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// Short election ticks: a one-member cluster elects itself at once.
	cfg.TickMs, cfg.ElectionMs = 10, 100
	// No fsync: a test's etcd need not survive a power cut, and with
	// fsync every registry write waits on the disk, which stalls the
	// lease renewals that wait for the apply index behind it.
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("etcdtest: start etcd in %s: %w", s.dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(20 * time.Second):
		e.Close()
		return fmt.Errorf("etcdtest: etcd in %s not ready after 20 s", s.dir)
	}
	s.etcd = e
	return nil
}

// Endpoints are the client URLs to give clientv3.
func (s *Server) Endpoints() []string { return []string{"http://" + s.client} }

// Stop stops the server, keeping its data, so clients lose etcd (a
// partition from every master at once).
func (s *Server) Stop() {
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
}

// Restart starts a stopped server again on the same ports and data.
func (s *Server) Restart() error {
	if s.etcd != nil {
		return nil
	}
	return s.start()
}

// Close stops the server; the caller removes dir.
func (s *Server) Close() { s.Stop() }

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("etcdtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Proxy forwards TCP connections to an etcd server until Cut, which
// breaks every connection and refuses new ones: a network partition
// between one client (a master given Proxy.Endpoints) and etcd.
type Proxy struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

// NewProxy listens on a free loopback port and forwards to the server's
// client address.
func (s *Server) NewProxy() (*Proxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("etcdtest: proxy: %w", err)
	}
	p := &Proxy{lis: lis, target: s.client}
	go p.accept()
	return p, nil
}

// Endpoints are the proxy's client URLs.
func (p *Proxy) Endpoints() []string { return []string{"http://" + p.lis.Addr().String()} }

func (p *Proxy) accept() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close() }()
		go func() { _, _ = io.Copy(c, u); c.Close() }()
	}
}

// Cut partitions: every connection through the proxy breaks and new ones
// are refused.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Close stops the proxy.
func (p *Proxy) Close() { p.Cut(); p.lis.Close() }
