// Package proctest runs the programs an end-to-end test starts (mezzo
// masters, agents, clients) as OS processes, and ends them with the test.
//
// A process's combined output goes to a file, not a pipe: executors that
// outlive an agent inherit the descriptor, and with a pipe cmd.Wait would
// wait for them to close it. Only the goroutine Start starts calls
// cmd.Wait; everyone else waits on Exited or WaitExit.
package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Bounds on waiting for a process a test started, so that a stuck kill or
// exit fails the test with a message instead of hanging until go test's
// own timeout.
const (
	ExitWait = 8 * time.Second  // after an interrupt, before kill -9
	ReapWait = 10 * time.Second // after kill -9, before giving up
)

// Proc is a started process.
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	outPath string
	done    chan struct{}
}

var seq atomic.Int64

// Start runs bin with args, its output in a file of the test's temporary
// directory. When the test ends the process is interrupted, then killed
// if it has not exited within ExitWait; its output is logged if the test
// failed.
func Start(t testing.TB, bin, name string, args ...string) *Proc {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), fmt.Sprintf("%s-%d-*.log", name, seq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // the child has its own copy
	p := &Proc{Name: name, Cmd: exec.Command(bin, args...), outPath: out.Name(), done: make(chan struct{})}
	p.Cmd.Stdout, p.Cmd.Stderr = out, out
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = p.Cmd.Process.Signal(os.Interrupt)
			if !p.WaitExit(ExitWait) {
				_ = p.Cmd.Process.Kill()
				if !p.WaitExit(ReapWait) {
					t.Errorf("%s (pid %d) not reaped %v after kill -9", name, p.Cmd.Process.Pid, ReapWait)
				}
			}
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.Output())
		}
	})
	return p
}

// Output returns everything the process has written so far.
func (p *Proc) Output() string {
	b, err := os.ReadFile(p.outPath)
	if err != nil {
		return fmt.Sprintf("(reading output: %v)", err)
	}
	return string(b)
}

// Exited reports whether the process has been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitExit waits up to d for the process to be reaped.
func (p *Proc) WaitExit(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-p.done:
		return true
	case <-tm.C:
		return false
	}
}

// Kill9 kills the process at once and waits, within ReapWait, until it is
// reaped, so its ports are free for a restart.
func (p *Proc) Kill9(t testing.TB) {
	t.Helper()
	_ = p.Cmd.Process.Kill()
	if !p.WaitExit(ReapWait) {
		t.Fatalf("%s (pid %d) not reaped %v after kill -9", p.Name, p.Cmd.Process.Pid, ReapWait)
	}
}

// Counts reads process pid's thread count and open descriptors (pid 0:
// this process), for tests that check a process gives back what a flood
// of requests or connections took.
func Counts(pid int) (threads, fds int, err error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d", pid)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			threads, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	ents, err := os.ReadDir(dir + "/fd")
	return threads, len(ents), err
}
