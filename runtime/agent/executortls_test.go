package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// executorCall makes one ExecutorAPI call with creds and returns its error.
func executorCall(t *testing.T, endpoint string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = api.NewExecutorAPIClient(conn).Update(ctx, &api.ExecutorUpdateRequest{
		Header: &api.ExecutorHeader{FrameworkId: "fw", ExecutorId: "ex", Token: "guess"}})
	return err
}

// The ExecutorAPI speaks TLS only, with a certificate executors verify
// against the CA the agent puts in their sandbox; the token check still
// follows.
func TestExecutorAPIServesTLSOnly(t *testing.T) {
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	a, _ := startAgent(t, m, Config{WorkDir: dir})
	<-m.subscribes

	if err := executorCall(t, a.endpoint, insecure.NewCredentials()); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext call: %v, want Unavailable (no TLS handshake)", err)
	}
	good, err := security.ClientCAOnlyTLS(filepath.Join(dir, executorCACert))
	if err != nil {
		t.Fatal(err)
	}
	// The call gets through to the handler, which refuses its empty update.
	if err := executorCall(t, a.endpoint, credentials.NewTLS(good)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("TLS call with the agent's CA: %v, want the handler's InvalidArgument", err)
	}
	other := t.TempDir()
	if _, err := security.InitDir(other, security.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	bad, err := security.ClientCAOnlyTLS(filepath.Join(other, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := executorCall(t, a.endpoint, credentials.NewTLS(bad)); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("TLS call trusting another CA: %v, want a certificate failure", err)
	}

	// A real executor finds the CA through MEZZO_AGENT_CA and connects.
	ex := &mezzo.ExecutorInfo{ID: "upper-1", Kind: "upper", Resources: mezzo.MemMB(16)}
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: "a", Executor: ex, Data: []byte("x"), Resources: mezzo.Cpus(0.1)})
	if s := m.nextUpdate(t, "a"); s.State != mezzo.TaskRunning {
		t.Fatalf("task a: %v %q, want TASK_RUNNING from an executor over TLS", s.State, s.Message)
	}
	dirs, _ := filepath.Glob(filepath.Join(dir, "sandboxes", "f-fw", "e-upper-1-*", sandboxCAFile))
	if len(dirs) != 1 {
		t.Fatalf("CA copies in sandboxes: %v, want one", dirs)
	}
	inSandbox, _ := os.ReadFile(dirs[0])
	if !bytes.Equal(inSandbox, a.execCA) {
		t.Error("the sandbox's CA is not the agent's executor CA")
	}
}

// The executor CA outlives the agent process, so executors that survive a
// restart still trust the agent; its key is private.
func TestExecutorCAKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	_, first, err := executorTLS(dir, "", now)
	if err != nil {
		t.Fatal(err)
	}
	cfg, second, err := executorTLS(dir, "127.0.0.1", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Error("a second start made a new CA")
	}
	if len(cfg.Certificates) != 1 {
		t.Fatalf("%d server certificates, want 1", len(cfg.Certificates))
	}
	st, err := os.Stat(filepath.Join(dir, executorCAKey))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", executorCAKey, st.Mode().Perm())
	}
	if err := os.WriteFile(filepath.Join(dir, executorCACert), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := executorTLS(dir, "", now); err == nil || !strings.Contains(err.Error(), executorCACert) {
		t.Errorf("a corrupt CA file: %v, want an error naming it", err)
	}
}
