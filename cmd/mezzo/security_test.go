package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// A master with TLS and --credentials takes a caller that shows only a
// bearer token over TLS (no client certificate), as it takes one with a
// certificate; a caller with neither, or a wrong token, is refused.
func TestTLSMasterTakesTokenWithoutCertificate(t *testing.T) {
	dir := t.TempDir()
	if _, err := security.InitDir(filepath.Join(dir, "certs"), security.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	certs := func(name string) string { return filepath.Join(dir, "certs", name) }
	creds := filepath.Join(dir, "credentials.json")
	if err := os.WriteFile(creds, []byte(`{"credentials": [{"principal": "analytics", "secret": "s3cret-token-value"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	writeToken := func(name, tok string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srv := &securityFlags{tls: security.TLSFiles{Cert: certs("master.crt"), Key: certs("master.key"), CA: certs("ca.crt")}, credentials: creds}
	opts, authz, err := srv.serverOptions("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", ServerOptions: opts, Authorizer: authz, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := m.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()

	call := func(c *securityFlags) error {
		t.Helper()
		dopts, err := c.dialOptions(addr)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(addr, dopts...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		stream, err := api.NewSchedulerAPIClient(conn).Subscribe(cctx, &api.SubscribeRequest{Framework: &api.FrameworkInfo{Name: "token-only"}})
		if err != nil {
			return err
		}
		ev, err := stream.Recv()
		if err == nil && ev.GetSubscribed() == nil {
			t.Fatalf("first event %v, not Subscribed", ev)
		}
		return err
	}
	ca := security.TLSFiles{CA: certs("ca.crt")}
	if err := call(&securityFlags{tls: ca, tokenFile: writeToken("good", "s3cret-token-value")}); err != nil {
		t.Errorf("TLS with a valid token and no certificate: %v", err)
	}
	if err := call(&securityFlags{tls: security.TLSFiles{Cert: certs("framework.crt"), Key: certs("framework.key"), CA: certs("ca.crt")}}); err != nil {
		t.Errorf("TLS with a client certificate: %v", err)
	}
	if err := call(&securityFlags{tls: ca, tokenFile: writeToken("bad", "not-the-secret")}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a wrong token: %v; want Unauthenticated", err)
	}
	// Neither certificate nor token: the handshake passes, the call is refused.
	noCreds := security.TLSFiles{CA: certs("ca.crt")}
	tc, err := security.ClientCAOnlyTLS(noCreds.CA)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, security.DialOptions(tc, "")...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	stream, err := api.NewSchedulerAPIClient(conn).Subscribe(cctx, &api.SubscribeRequest{Framework: &api.FrameworkInfo{Name: "anonymous"}})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("no certificate and no token: %v; want Unauthenticated", err)
	}
}
