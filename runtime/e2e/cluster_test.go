package e2e

import (
	"context"
	"fmt"
	"github.com/mezzo-cluster/mezzo/runtime/internal/proctest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

var mezzoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mezzo-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mezzoBin = filepath.Join(dir, "mezzo")
	build := exec.Command("go", "build", "-o", mezzoBin, "github.com/mezzo-cluster/mezzo/cmd/mezzo")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mezzo:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a mezzo process the test started.
type proc = proctest.Proc

// within runs f and fails the test if it has not returned after d (f is
// then left running: the point is a clear failure, not a hang).
func within(t *testing.T, what string, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-done:
	case <-tm.C:
		t.Errorf("%s did not return within %v", what, d)
	}
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return proctest.Start(t, mezzoBin, "mezzo "+args[0], args...)
}

var listenRE = regexp.MustCompile(`msg="master started".* listen=(\S+)`)

// startMaster runs `mezzo master` on a free port with short ping and
// allocation intervals and returns its address.
func startMaster(t *testing.T, extra ...string) (*proc, string) {
	t.Helper()
	args := append([]string{"master", "--listen", "127.0.0.1:0", "--ping-interval", "100ms", "--ping-timeout", "600ms", "--allocation-interval", "200ms"}, extra...)
	p := start(t, args...)
	var addr string
	eventually(t, "the master to log its address", 10*time.Second, func() bool {
		if m := listenRE.FindStringSubmatch(p.Output()); m != nil {
			addr = m[1]
			return true
		}
		return p.Exited()
	})
	if addr == "" {
		t.Fatalf("master exited before it started:\n%s", p.Output())
	}
	return p, addr
}

// startAgent runs `mezzo agent` with process isolation.
func startAgent(t *testing.T, master, resources, workDir string) *proc {
	t.Helper()
	return start(t, "agent", "--master", master, "--resources", resources, "--work-dir", workDir, "--isolation", "process")
}

// cluster starts a master and n agents with the given resources each.
func cluster(t *testing.T, n int, resources string) (master string, agents []*proc) {
	t.Helper()
	_, addr := startMaster(t)
	for i := 0; i < n; i++ {
		agents = append(agents, startAgent(t, addr, resources, filepath.Join(t.TempDir(), fmt.Sprintf("agent-%d", i))))
	}
	return addr, agents
}

// runMezzo runs a mezzo command to completion and returns its output and
// exit status.
func runMezzo(t *testing.T, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mezzoBin, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mezzo %v did not finish within %v:\n%s", args, timeout, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}
