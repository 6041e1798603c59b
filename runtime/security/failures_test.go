package security

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// syncBuffer is a log sink that tests read while servers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const goodSecret = "a-secret-of-24-bytes-ok!"

func tokenAuth(t *testing.T, f *Failures) *Authenticator {
	t.Helper()
	creds, err := ParseCredentials("c.json", []byte(`{"credentials":[{"principal":"analytics","secret":"`+goodSecret+`"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return &Authenticator{Credentials: creds, Required: true, Failures: f}
}

// The scheme of an Authorization value is case-insensitive (RFC 7235),
// on gRPC and HTTP alike.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	a := tokenAuth(t, nil)
	for _, v := range []string{"Bearer " + goodSecret, "bearer " + goodSecret, "BEARER " + goodSecret, "bEaReR   " + goodSecret} {
		p, f := a.check(v, true, nil)
		if f != nil || p != "analytics" {
			t.Errorf("%q: %q, %+v; want analytics", v, p, f)
		}
		r := httptest.NewRequest(http.MethodGet, "/state", nil)
		r.Header.Set("Authorization", v)
		if p, err := a.AuthenticateHTTP(r); err != nil || p != "analytics" {
			t.Errorf("HTTP %q: %q, %v", v, p, err)
		}
	}
	for _, v := range []string{"Basic " + goodSecret, "Bearer", "Bearer ", goodSecret, "Bearer" + goodSecret} {
		if p, f := a.check(v, true, nil); f == nil {
			t.Errorf("%q accepted as %q", v, p)
		}
	}
	addr, _ := serve(t, ServerConfig{Auth: a})
	if err := check(t, addr, DialOptions(nil, "")); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	lower := append(DialOptions(nil, ""), grpc.WithPerRPCCredentials(schemeToken{"bearer", goodSecret}))
	if err := check(t, addr, lower); err != nil {
		t.Errorf("gRPC with a lower-case scheme: %v", err)
	}
}

// schemeToken sends "authorization: SCHEME TOKEN".
type schemeToken struct{ scheme, token string }

func (s schemeToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": s.scheme + " " + s.token}, nil
}

func (schemeToken) RequireTransportSecurity() bool { return false }

// Wrong tokens from one address are throttled past the burst: the calls
// are refused without their token being checked (a right token from that
// address is refused too, until the bucket refills), other addresses
// carry on, and the failures are logged, the first at once and the rest
// as one summary line, never with the token.
func TestFailedAuthenticationsAreThrottledAndLogged(t *testing.T) {
	var logs syncBuffer
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := NewFailures(FailureOptions{Rate: 1, Burst: 3, Delay: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil)), LogEvery: 50 * time.Millisecond, Now: clock})
	a := tokenAuth(t, f)
	req := func(ip, tok string) int {
		r := httptest.NewRequest(http.MethodGet, "/state", nil)
		r.RemoteAddr = net.JoinHostPort(ip, "40000")
		r.Header.Set("Authorization", "Bearer "+tok)
		_, err := a.AuthenticateHTTP(r)
		if err == nil {
			return 200
		}
		return err.(*HTTPError).Code
	}
	var got []int
	for i := 0; i < 6; i++ {
		got = append(got, req("10.0.0.1", "guess-"+string(rune('a'+i))))
	}
	want := []int{401, 401, 401, 429, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("answers to wrong tokens %v, want %v", got, want)
		}
	}
	if c := req("10.0.0.1", goodSecret); c != 429 {
		t.Errorf("the right token from a throttled address: %d, want 429 (it is not even checked)", c)
	}
	if c := req("10.0.0.2", goodSecret); c != 200 {
		t.Errorf("another address: %d, want 200", c)
	}
	mu.Lock()
	now = now.Add(2 * time.Second) // two failures' worth refilled
	mu.Unlock()
	if c := req("10.0.0.1", goodSecret); c != 200 {
		t.Errorf("the right token once the bucket refilled: %d, want 200", c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "authentication failures") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	if n := strings.Count(out, `msg="authentication failed"`); n != 1 {
		t.Errorf("%d full failure lines for one peer in one window, want 1:\n%s", n, out)
	}
	// Seven failures of 10.0.0.1 (three wrong tokens, four calls refused
	// unchecked): one full line, then a summary of six more.
	for _, want := range []string{"peer=10.0.0.1", `method="GET /state"`, `reason="invalid bearer token"`, "more=6", "throttled=4"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "guess-") || strings.Contains(out, goodSecret) {
		t.Errorf("log quotes a token:\n%s", out)
	}
}

// A verified client certificate is not throttled with the tokens of its
// address: it cannot be guessed, and it costs nothing to check.
func TestThrottleSparesCertificates(t *testing.T) {
	c := newCluster(t)
	f := NewFailures(FailureOptions{Rate: 0.001, Burst: 1, Delay: -1, Logger: slog.New(slog.DiscardHandler)})
	a := tokenAuth(t, f)
	r := httptest.NewRequest(http.MethodGet, "/state", nil)
	r.Header.Set("Authorization", "Bearer wrong-token-value")
	if _, err := a.AuthenticateHTTP(r); err == nil {
		t.Fatal("wrong token accepted")
	}
	pair, err := tls.LoadX509KeyPair(c.files("admin").Cert, c.files("admin").Key)
	if err != nil {
		t.Fatal(err)
	}
	r = httptest.NewRequest(http.MethodGet, "/state", nil)
	leaf := mustLeaf(t, pair)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}}
	if p, err := a.AuthenticateHTTP(r); err != nil || p != "admin" {
		t.Errorf("certificate from a throttled address: %q, %v; want admin", p, err)
	}
}

// Over gRPC a throttled peer gets ResourceExhausted.
func TestFailedAuthenticationsThrottledOverGRPC(t *testing.T) {
	f := NewFailures(FailureOptions{Rate: 0.001, Burst: 2, Delay: -1, Logger: slog.New(slog.DiscardHandler)})
	addr, _ := serve(t, ServerConfig{Auth: tokenAuth(t, f)})
	var seen []codes.Code
	for i := 0; i < 4; i++ {
		seen = append(seen, status.Code(check(t, addr, DialOptions(nil, "wrong-token-value"))))
	}
	if seen[0] != codes.Unauthenticated || seen[1] != codes.Unauthenticated || seen[2] != codes.ResourceExhausted || seen[3] != codes.ResourceExhausted {
		t.Errorf("codes %v, want Unauthenticated twice then ResourceExhausted", seen)
	}
	if err := check(t, addr, DialOptions(nil, goodSecret)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("the right token from the throttled address: %v, want ResourceExhausted", err)
	}
}

func TestSecretsMustBeLong(t *testing.T) {
	_, err := ParseCredentials("c.json", []byte(`{"credentials":[{"principal":"ops","secret":"x"}]}`))
	if err == nil || !strings.Contains(err.Error(), `principal "ops"`) || !strings.Contains(err.Error(), "16") {
		t.Fatalf("a one-byte secret: %v; want an error naming the principal and the minimum", err)
	}
	if strings.Contains(err.Error(), `"x"`) {
		t.Errorf("error quotes the secret: %v", err)
	}
}

func TestRatesMustBeNumbers(t *testing.T) {
	for _, r := range []float64{math.NaN(), math.Inf(1), -5} {
		if CheckRate(r) == nil {
			t.Errorf("CheckRate(%v) passed", r)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewLimiter(%v) did not panic", r)
				}
			}()
			NewLimiter(r, 1, nil)
		}()
	}
	if CheckRate(0) != nil || CheckRate(2.5) != nil {
		t.Error("CheckRate refused a rate")
	}
}
