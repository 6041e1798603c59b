package failover_test

import (
	"context"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/mezzo-cluster/mezzo/runtime/failover"
)

// childEnv makes this test binary the etcd child process (TestMain).
const childEnv = "MEZZO_FAILOVER_ETCD_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := failover.ServeEtcd(os.Args[len(os.Args)-1], os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestEtcdProcess runs etcd as a child process (this test binary playing
// mezzo etcd-dev), uses it, and stops it.
func TestEtcdProcess(t *testing.T) {
	t.Setenv(childEnv, "1")
	eps, stop, err := failover.EtcdProcess(os.Args[0])(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	r, err := cli.Get(ctx, "k")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("get k: %v, %v", r, err)
	}
	stop()
	stopped = true
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if _, err := cli.Get(sctx, "k"); err == nil {
		t.Fatal("etcd still answers after stop")
	}
}

// TestEtcdProcessBadChild: a child that does not announce endpoints is
// an error naming what it printed.
func TestEtcdProcessBadChild(t *testing.T) {
	_, _, err := failover.EtcdProcess("/bin/echo", "hello")(t.TempDir())
	if err == nil {
		t.Fatal("a child printing no endpoints was accepted")
	}
	t.Log(err)
}
