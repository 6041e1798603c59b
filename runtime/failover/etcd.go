package failover

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/mezzo-cluster/mezzo/runtime/master/etcdtest"
)

// EtcdStarter starts the etcd a run uses, with its data in dir, and
// returns its client endpoints and how to stop it.
type EtcdStarter func(dir string) (endpoints []string, stop func(), err error)

// InProcessEtcd runs the embedded etcd (etcdtest) inside this process:
// cheap to start, for tests. At thousands of agents its raft, lease and
// gRPC goroutines share the Go scheduler and garbage collector with both
// masters and every emulated agent, so a burst of agent work delays lease
// renewals and expiries alike; EtcdProcess keeps them apart.
func InProcessEtcd(dir string) ([]string, func(), error) {
	e, err := etcdtest.Start(dir)
	if err != nil {
		return nil, nil, err
	}
	return e.Endpoints(), e.Close, nil
}

// EtcdProcess returns an EtcdStarter that runs argv plus the data
// directory as a child process: a command that serves etcd there, prints
// "ENDPOINTS url[,url]" on one line of its standard output when ready and
// runs until its standard input closes (mezzo's hidden etcd-dev command,
// ServeEtcd). The child dies with this process (parent-death signal), so
// a crashed experiment leaves no etcd behind.
func EtcdProcess(argv ...string) EtcdStarter {
	return func(dir string) ([]string, func(), error) {
		cmd := exec.Command(argv[0], append(argv[1:], dir)...)
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, nil, fmt.Errorf("failover: starting etcd (%s): %w", strings.Join(argv, " "), err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stop := func() {
			_ = stdin.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		line := make(chan string, 1)
		go func() {
			r := bufio.NewReader(stdout)
			l, _ := r.ReadString('\n')
			line <- l
			_, _ = io.Copy(io.Discard, r)
		}()
		select {
		case l := <-line:
			eps, ok := strings.CutPrefix(strings.TrimSpace(l), "ENDPOINTS ")
			if !ok || eps == "" {
				stop()
				return nil, nil, fmt.Errorf("failover: etcd process (%s) printed %q, not its endpoints", strings.Join(argv, " "), l)
			}
			return strings.Split(eps, ","), stop, nil
		case <-time.After(30 * time.Second):
			stop()
			return nil, nil, fmt.Errorf("failover: etcd process (%s) not ready after 30 s", strings.Join(argv, " "))
		}
	}
}

// ServeEtcd is the child side of EtcdProcess: it serves an embedded etcd
// with its data in dir, announces its endpoints on out and returns when
// in reaches end of file (the parent closed it or died).
func ServeEtcd(dir string, in io.Reader, out io.Writer) error {
	e, err := etcdtest.Start(dir)
	if err != nil {
		return err
	}
	defer e.Close()
	if _, err := fmt.Fprintf(out, "ENDPOINTS %s\n", strings.Join(e.Endpoints(), ",")); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, in)
	return nil
}
