package attack

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// floodResult counts what a flood of guesses got back.
type floodResult struct {
	checked, throttled, other int // refused as wrong (the token was looked at), refused unchecked, anything else
	elapsed                   time.Duration
}

func (r floodResult) String() string {
	s := r.elapsed.Seconds()
	return fmt.Sprintf("%d guesses in %v: %d checked (%.0f/s), %d throttled unchecked (%.0f/s), %d other",
		r.checked+r.throttled+r.other, r.elapsed.Round(time.Millisecond), r.checked, float64(r.checked)/s, r.throttled, float64(r.throttled)/s, r.other)
}

// flood runs guess from workers goroutines for d; guess answers whether
// the token was checked (true), throttled (false), or neither (error).
func flood(workers int, d time.Duration, guess func() (bool, error)) floodResult {
	var mu sync.Mutex
	var r floodResult
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d {
				checked, err := guess()
				mu.Lock()
				switch {
				case err != nil:
					r.other++
				case checked:
					r.checked++
				default:
					r.throttled++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	return r
}

// wrongToken looks like a tenant's token and is none.
const wrongToken = "0123456789abcdef0123456789abcdef0123456789abcdef"

// Item 6: a burst of wrong tokens over gRPC and over HTTP is throttled per
// peer address (the guesses past the budget are refused without their
// token being checked) and logged without the token, in a bounded number
// of lines; a tenant with a client certificate on the same address
// carries on, and token callers there get in again once the guessing
// stops. The rates before and after are logged (the suite's -v shows
// them).
func TestWrongTokensAreThrottledAndLogged(t *testing.T) {
	slow(t)
	c := newCluster(t, clusterOptions{})
	caOnly, err := security.MasterCAOnlyTLS(c.ca())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.grpcAddr, security.DialOptions(caOnly, wrongToken)...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sched := api.NewSchedulerAPIClient(conn)
	grpcRes := flood(16, 3*time.Second, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := sched.Revive(ctx, &api.ReviveRequest{})
		switch status.Code(err) {
		case codes.Unauthenticated:
			return true, nil
		case codes.ResourceExhausted:
			return false, nil
		}
		return false, fmt.Errorf("unexpected answer %v", err)
	})
	t.Logf("gRPC: %v", grpcRes)
	if grpcRes.throttled == 0 || grpcRes.other > 0 {
		t.Errorf("gRPC wrong tokens: %v; want guesses refused unchecked, nothing else", grpcRes)
	}
	// Everything was throttled but the burst and what refilled meanwhile.
	if limit := security.DefaultFailureBurst + int(security.DefaultFailureRate*grpcRes.elapsed.Seconds()) + 2; grpcRes.checked > limit {
		t.Errorf("gRPC: %d tokens checked; the budget allows about %d", grpcRes.checked, limit)
	}

	// Meanwhile a tenant with a certificate is not held back by the
	// guesser on its address.
	mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "by-certificate", Role: "a", User: "nobody"})

	pool, err := security.LoadCAPool(c.ca())
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16,
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
	defer hc.CloseIdleConnections()
	httpGuess := func(scheme, tok string) (int, error) {
		req, err := http.NewRequest(http.MethodGet, "https://"+c.httpAddr+"/state", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", scheme+" "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	httpRes := flood(16, 3*time.Second, func() (bool, error) {
		code, err := httpGuess("Bearer", wrongToken)
		switch {
		case err != nil:
			return false, err
		case code == http.StatusUnauthorized:
			return true, nil
		case code == http.StatusTooManyRequests:
			return false, nil
		}
		return false, fmt.Errorf("status %d", code)
	})
	t.Logf("HTTP: %v", httpRes)
	if httpRes.throttled == 0 || httpRes.other > 0 {
		t.Errorf("HTTP wrong tokens: %v; want guesses refused unchecked (429), nothing else", httpRes)
	}
	// A right token from the guesser's address is refused until the
	// guessing stops, then gets in.
	eventually(t, "tenant-a's own token to be taken again", 30*time.Second, func() bool {
		code, err := httpGuess("Bearer", c.tokens[tenantA])
		return err == nil && code == http.StatusOK
	})

	logs := c.master.Output()
	failed := regexp.MustCompile(`msg="authentication failed".*peer=127\.0\.0\.1.*reason="invalid bearer token"`)
	if !failed.MatchString(logs) {
		t.Errorf("the master logged no failed authentication with its peer and reason:\n%s", tail(logs, 40))
	}
	if strings.Contains(logs, wrongToken) {
		t.Error("the master's log quotes the guessed token")
	}
	if n := strings.Count(logs, "authentication fail"); n > 12 {
		t.Errorf("%d log lines for %d failed guesses; the log itself must be rate-limited", n, grpcRes.checked+grpcRes.throttled+httpRes.checked+httpRes.throttled)
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// schemeCreds sends "authorization: SCHEME TOKEN" on every call.
type schemeCreds struct{ scheme, token string }

func (s schemeCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": s.scheme + " " + s.token}, nil
}

func (schemeCreds) RequireTransportSecurity() bool { return true }

// Item 6: the Bearer scheme is case-insensitive (RFC 7235): "bearer" and
// "BEARER" name tenant-a on gRPC and on HTTP, as "Bearer" does.
func TestLowerCaseBearerIsAccepted(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	caOnly, err := security.MasterCAOnlyTLS(c.ca())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := subscribe(t, c.dialToken(tenantA), mezzo.FrameworkInfo{Name: "scheme-Bearer", Role: "a", User: "nobody"}); err != nil {
		t.Fatalf("gRPC with the canonical Bearer: %v", err)
	}
	for _, scheme := range []string{"bearer", "BEARER"} {
		conn := c.dialWith(grpc.WithTransportCredentials(credentials.NewTLS(caOnly)), grpc.WithPerRPCCredentials(schemeCreds{scheme, c.tokens[tenantA]}))
		f, err := subscribe(t, conn, mezzo.FrameworkInfo{Name: "scheme-" + scheme, Role: "a", User: "nobody"})
		if err != nil {
			t.Errorf("gRPC with %q: %v", scheme, err)
		} else if f.id == "" {
			t.Errorf("gRPC with %q: no framework ID", scheme)
		}
		code, body := c.httpDoScheme(scheme, c.tokens[tenantA], "/state")
		if code != http.StatusOK {
			t.Errorf("HTTP with %q: %d %s", scheme, code, body)
		}
		code, body = c.httpDoScheme(scheme, c.tokens[admin], "/api/v1/agents/"+c.agents[0].id+"/drain")
		if code/100 != 2 {
			t.Errorf("operator endpoint with %q: %d %s", scheme, code, body)
		}
	}
}

// httpDoScheme GETs (or, under /api/, POSTs) path on the master's HTTPS
// with "Authorization: SCHEME TOKEN".
func (c *cluster) httpDoScheme(scheme, token, path string) (int, string) {
	c.t.Helper()
	method := http.MethodGet
	if strings.HasPrefix(path, "/api/") {
		method = http.MethodPost
	}
	return c.httpRequest(method, path, "", scheme+" "+token)
}

// Item 6: connections that never complete a TLS handshake neither exhaust
// the master nor block other tenants. 300 silent connections on each of
// its ports hold at most --max-connections descriptors a port, each for
// at most --handshake-timeout, after which the master hangs up on them; a
// tenant's established connection is served throughout, and a new one
// gets in.
func TestHandshakeFloodIsBounded(t *testing.T) {
	slow(t)
	const maxConns, silent = 64, 300
	c := newCluster(t, clusterOptions{MasterArgs: []string{"--max-connections", fmt.Sprint(maxConns), "--handshake-timeout", "2s"}})
	victim := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "victim", Role: "a", User: "nobody"})
	pid := c.master.Cmd.Process.Pid
	_, base := procCounts(t, pid)

	var closed sync.WaitGroup
	var conns []net.Conn
	for _, addr := range []string{c.grpcAddr, c.httpAddr} {
		for i := 0; i < silent; i++ {
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("silent connection %d to %s: %v", i, addr, err)
			}
			conns = append(conns, conn)
			closed.Add(1)
			go func() {
				defer closed.Done()
				_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
				_, _ = io.Copy(io.Discard, conn) // returns when the master hangs up
			}()
		}
	}
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()

	// The established tenant is served while the flood lasts.
	var lat []time.Duration
	most := 0
	for i := 0; i < 20; i++ {
		start := time.Now()
		if err := call(victim, victim.client.Revive, &api.ReviveRequest{Header: victim.header()}); err != nil {
			t.Fatalf("tenant-a's call %d during the flood: %v", i, err)
		}
		lat = append(lat, time.Since(start))
		_, fds := procCounts(t, pid)
		most = max(most, fds)
		time.Sleep(50 * time.Millisecond)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("tenant-a during the flood: median %v, max %v; the master held %d descriptors (%d before)", lat[len(lat)/2], lat[len(lat)-1], most, base)
	if most > base+2*maxConns+16 {
		t.Errorf("the master held %d descriptors with %d silent connections (%d before): more than --max-connections %d a port", most, 2*silent, base, maxConns)
	}
	// A new tenant connection gets in once the silent ones are dropped.
	eventually(t, "tenant-b to subscribe over a new connection", 60*time.Second, func() bool {
		_, err := subscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{Name: "newcomer", Role: "b", User: "nobody"})
		return err == nil
	})
	done := make(chan struct{})
	go func() { closed.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatalf("the master had not hung up on all %d silent connections after 90 s", 2*silent)
	}
}

// Item 6: the operator commands work against the TLS master's HTTP with
// only --tls-ca and --token-file, as the README says: status, agents,
// frameworks, tasks, logs, kill, drain and undrain, as admin.
func TestOperatorCommandsWithTokenOnlyHTTPS(t *testing.T) {
	needRoot(t)
	c := newCluster(t, clusterOptions{})
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "worker", Role: "a", User: "nobody"})
	a.run("long", "cpus:0.1;mem:32", "echo started; sleep 600")
	a.waitState("long", 30*time.Second, mezzo.TaskRunning)
	op := func(args ...string) string {
		t.Helper()
		args = append(args, "--master-http", c.httpAddr, "--tls-ca", c.ca(), "--token-file", c.tokenFile(admin))
		out, code := runMezzo(t, 30*time.Second, args...)
		if code != 0 {
			t.Fatalf("mezzo %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	for cmd, want := range map[string]string{"status": "(leader)", "agents": c.agents[0].id, "frameworks": a.id, "tasks": "long"} {
		if out := op(cmd); !strings.Contains(out, want) {
			t.Errorf("mezzo %s: no %q in\n%s", cmd, want, out)
		}
	}
	eventually(t, "the task's output", 20*time.Second, func() bool {
		return strings.Contains(op("logs", "long", "--framework", a.id), "started")
	})
	if out := op("drain", c.agents[0].id); !strings.Contains(out, "is draining") {
		t.Errorf("mezzo drain: %s", out)
	}
	if out := op("undrain", c.agents[0].id); !strings.Contains(out, "undrained") {
		t.Errorf("mezzo undrain: %s", out)
	}
	if out := op("kill", "long", "--framework", a.id, "--wait", "20s"); !strings.Contains(out, "TASK_KILLED") {
		t.Errorf("mezzo kill: %s", out)
	}
	// With admin's client certificate instead, as well.
	out, code := runMezzo(t, 30*time.Second, "status", "--master-http", c.httpAddr, "--tls-ca", c.ca(), "--tls-cert", c.cert(admin), "--tls-key", c.key(admin))
	if code != 0 || !strings.Contains(out, "(leader)") {
		t.Errorf("mezzo status with admin's certificate: exit %d\n%s", code, out)
	}
}
