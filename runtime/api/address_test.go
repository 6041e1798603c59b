package api_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// A MasterConn over mutual TLS verifies each master under its own name:
// the standby's certificate names localhost only, the leader's 127.0.0.1
// only, and following the standby's hint to the leader works.
func TestMasterConnVerifiesEachMasterByName(t *testing.T) {
	c, cli, leader := redirectedConn(t, security.RoleMaster)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cli.Revive(ctx, &api.ReviveRequest{})
	if api.LeaderHintFrom(err).GetAddress() != leader {
		t.Fatalf("first call: %v, want the standby's hint to %s (over TLS, verified as localhost)", err, leader)
	}
	c.Failed(ctx, c.Current(), err)
	if _, err := cli.Revive(ctx, &api.ReviveRequest{}); err != nil {
		t.Fatalf("call to the leader, verified as 127.0.0.1: %v", err)
	}
}

// A redirect is followed only to a master: a "leader" that shows a valid
// certificate of the cluster's CA for the right host, but bound to the
// agent role, fails the handshake, and no call reaches it.
func TestMasterConnRefusesARedirectToANonMaster(t *testing.T) {
	c, cli, leader := redirectedConn(t, security.RoleAgent)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cli.Revive(ctx, &api.ReviveRequest{})
	if api.LeaderHintFrom(err).GetAddress() != leader {
		t.Fatalf("first call: %v, want the standby's hint to %s", err, leader)
	}
	c.Failed(ctx, c.Current(), err)
	_, err = cli.Revive(ctx, &api.ReviveRequest{})
	if err == nil || !strings.Contains(err.Error(), "is not a mezzo master") || !strings.Contains(err.Error(), "role agent") {
		t.Fatalf("call redirected to an agent's certificate: %v; want a handshake refused because the server is not a master", err)
	}
}

// redirectedConn serves a standby (certificate for localhost) that sends
// callers to a leader (certificate for 127.0.0.1, bound to leaderRole),
// and returns a MasterConn dialled to the standby.
func redirectedConn(t *testing.T, leaderRole security.Role) (*api.MasterConn, api.SchedulerAPIClient, string) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	ca, err := security.NewCA("test CA", now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, spec security.CertSpec) security.TLSFiles {
		spec.NotBefore, spec.NotAfter = now.Add(-time.Minute), now.Add(time.Hour)
		c, k, err := ca.Issue(spec)
		if err != nil {
			t.Fatal(err)
		}
		f := security.TLSFiles{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, "ca.crt")}
		for p, b := range map[string][]byte{f.Cert: c, f.Key: k, f.CA: ca.CertPEM} {
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return f
	}
	serveTLS := func(files security.TLSFiles, s api.SchedulerAPIServer) int {
		cfg, err := security.ServerTLS(files)
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
		api.RegisterSchedulerAPIServer(srv, s)
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		return lis.Addr().(*net.TCPAddr).Port
	}
	leaderPort := serveTLS(write("leader", security.CertSpec{Principal: string(leaderRole), Role: leaderRole, Hosts: []string{"127.0.0.1"}, Server: true}), &standby{})
	leader := net.JoinHostPort("127.0.0.1", itoa(leaderPort))
	stbyPort := serveTLS(write("standby", security.CertSpec{Principal: "master", Role: security.RoleMaster, Hosts: []string{"localhost"}, Server: true}), &standby{leader: leader})
	client, err := security.ClientTLS(write("client", security.CertSpec{Principal: "framework", Role: security.RoleClient, Client: true}), "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.DialMasters([]string{"localhost:" + itoa(stbyPort)}, security.DialOptions(client, "")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, api.NewSchedulerAPIClient(c.Conn()), leader
}

func itoa(n int) string { return strconv.Itoa(n) }
