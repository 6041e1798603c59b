package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// masterProc is a master running as a child process (ClusterConfig.
// MasterCommand): its own Go scheduler and collector, as a master on its
// own machine has. In one process the master's loop is one goroutine among
// the 100,000 and more of tens of thousands of emulated agents: at 50,000
// agents it waited to be scheduled (and helped the collector mark the
// agents' heap) far longer than it ran. Apart, the operating system shares
// the cores between the two processes, and the master's CPU can be read on
// its own.
type masterProc struct {
	cmd      *exec.Cmd
	addr     string // gRPC
	httpAddr string // metrics
	done     chan struct{}
	err      error // of Wait, once done is closed
}

// startMasterProc runs argv plus the listen, HTTP, ping and allocation
// flags, and returns once the master accepts connections.
func startMasterProc(ctx context.Context, argv []string, ping, allocEvery time.Duration, profile string, logw io.Writer) (*masterProc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	// --rate-limit 0 and no subscription limits: the benchmark's
	// frameworks all call as the one anonymous principal, whose default
	// 100 calls/s would throttle 200 frameworks together (the probe's
	// accept among them), and whose default cap of 100 frameworks would
	// refuse half of them; a cluster's frameworks have principals of
	// their own.
	args := append(append([]string(nil), argv[1:]...), "--listen", addr, "--http", httpAddr, "--log-level", "warn", "--rate-limit", "0",
		"--subscribe-rate-limit", "0", "--max-frameworks-per-principal", "0")
	if ping > 0 {
		args = append(args, "--ping-interval", ping.String())
	}
	if allocEvery > 0 {
		args = append(args, "--allocation-interval", allocEvery.String())
	}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	cmd := exec.Command(argv[0], args...)
	cmd.Stdout, cmd.Stderr = logw, logw
	// Its own process group, so an interrupt of the benchmark reaches it
	// only through Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting the master process %s: %w", argv[0], err)
	}
	p := &masterProc{cmd: cmd, addr: addr, httpAddr: httpAddr, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("bench: the master process ended before serving: %v", p.err)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort picks a loopback port the kernel says is free now.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// stop ends the master (SIGTERM, then SIGKILL after 10 s) and reaps it.
func (p *masterProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cpu is the master process's user+system CPU time so far, from
// /proc/PID/stat.
func (p *masterProc) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) in ")".
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: %d fields", p.cmd.Process.Pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: /proc/%d/stat: utime %q stime %q", p.cmd.Process.Pid, fields[11], fields[12])
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// rss is the master process's resident memory in bytes.
func (p *masterProc) rss() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if f := strings.Fields(ln); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}

// metrics reads the master's /metrics: each series under its full name
// (`mezzo_master_agents{state="active"}`) and summed over its labels
// under its bare name ("mezzo_master_allocation_cycle_seconds_count" is
// then the cycles of both kinds).
func (p *masterProc) metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.httpAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		ln := sc.Text()
		if strings.HasPrefix(ln, "#") {
			continue
		}
		sp := strings.LastIndexByte(ln, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(ln[sp+1:], 64)
		if err != nil {
			continue
		}
		name := ln[:sp]
		if b := strings.IndexByte(name, '{'); b >= 0 {
			out[name] = v
			name = name[:b]
		}
		out[name] += v
	}
	return out, sc.Err()
}
