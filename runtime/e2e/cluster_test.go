package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync/atomic"
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

// Bounds on waiting for a process the test started, so a stuck kill or
// exit fails the test with a message instead of hanging until go test's
// own timeout.
const (
	exitWait = 5 * time.Second  // after an interrupt, before kill -9
	reapWait = 10 * time.Second // after kill -9, before giving up
)

// proc is a mezzo process the test started. Its combined output goes to a
// file, not a pipe: executors that outlive an agent inherit the output
// descriptor, and with a pipe cmd.Wait would wait for them to close it.
// Only the goroutine started by start calls cmd.Wait; done is closed when
// it returns, so everyone else waits on done.
type proc struct {
	cmd     *exec.Cmd
	outPath string
	done    chan struct{}
}

// Output returns everything the process has written so far.
func (p *proc) Output() string {
	b, err := os.ReadFile(p.outPath)
	if err != nil {
		return fmt.Sprintf("(reading output: %v)", err)
	}
	return string(b)
}

// exited reports whether the process has been reaped.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to be reaped.
func (p *proc) waitExit(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-p.done:
		return true
	case <-tm.C:
		return false
	}
}

// kill9 kills the process at once and waits, within reapWait, until it is
// reaped, so its ports are free for a restart.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	if !p.waitExit(reapWait) {
		t.Fatalf("mezzo %v (pid %d) not reaped %v after kill -9", p.cmd.Args[1:2], p.cmd.Process.Pid, reapWait)
	}
}

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

var procSeq atomic.Int64

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), fmt.Sprintf("mezzo-%s-%d-*.log", args[0], procSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // the child has its own copy
	p := &proc{cmd: exec.Command(mezzoBin, args...), outPath: out.Name(), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Signal(os.Interrupt)
			if !p.waitExit(exitWait) {
				_ = p.cmd.Process.Kill()
				if !p.waitExit(reapWait) {
					t.Errorf("mezzo %v (pid %d) not reaped %v after kill -9", args[:1], p.cmd.Process.Pid, reapWait)
				}
			}
		}
		if t.Failed() {
			t.Logf("output of mezzo %v:\n%s", args[:1], p.Output())
		}
	})
	return p
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
		return p.exited()
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
