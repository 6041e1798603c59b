package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
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

// proc is a mezzo process the test started; its combined output is kept
// for failure messages.
type proc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.out.Write(b) }

func (p *proc) Output() string { p.mu.Lock(); defer p.mu.Unlock(); return p.out.String() }

// kill9 kills the process at once and reaps it.
func (p *proc) kill9() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

func start(t *testing.T, args ...string) (*proc, io.Reader) {
	t.Helper()
	p := &proc{cmd: exec.Command(mezzoBin, args...)}
	pr, pw := io.Pipe()
	p.cmd.Stdout = p
	p.cmd.Stderr = io.MultiWriter(p, pw)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() {
				for p.cmd.ProcessState == nil {
					time.Sleep(10 * time.Millisecond)
				}
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = p.cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("output of mezzo %v:\n%s", args[:1], p.Output())
		}
	})
	return p, pr
}

var listenRE = regexp.MustCompile(`msg="master started".* listen=(\S+)`)

// startMaster runs `mezzo master` on a free port with short ping and
// allocation intervals and returns its address.
func startMaster(t *testing.T, extra ...string) (*proc, string) {
	t.Helper()
	args := append([]string{"master", "--listen", "127.0.0.1:0", "--ping-interval", "100ms", "--ping-timeout", "600ms", "--allocation-interval", "200ms"}, extra...)
	p, logs := start(t, args...)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, logs)
	}()
	select {
	case addr := <-found:
		return p, addr
	case <-time.After(10 * time.Second):
		t.Fatalf("master did not start:\n%s", p.Output())
		return nil, ""
	}
}

// startAgent runs `mezzo agent` with process isolation.
func startAgent(t *testing.T, master, resources, workDir string) *proc {
	t.Helper()
	p, logs := start(t, "agent", "--master", master, "--resources", resources, "--work-dir", workDir, "--isolation", "process")
	go func() { _, _ = io.Copy(io.Discard, logs) }()
	return p
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
