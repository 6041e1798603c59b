package isolation

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the task the tests run: with helperEnv set,
// TestMain runs one of the behaviours below instead of the tests. Its first
// instruction is test code, so what it reports about its cgroup is what a
// task would see at its very start.
const helperEnv = "MEZZO_ISOLATION_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helper(mode string, args []string) int {
	switch mode {
	case "cgroup": // print our cgroups, then exit
		b, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Stdout.Write(b)
		return 0
	case "exit":
		n, _ := strconv.Atoi(args[0])
		return n
	case "sleep": // announce, then sleep until killed
		fmt.Println("ready")
		time.Sleep(time.Minute)
		return 0
	case "alloc": // allocate and touch memory, 1 MiB at a time
		mb, _ := strconv.Atoi(args[0])
		var keep [][]byte
		for i := 0; i < mb; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println(len(keep))
		return 0
	case "oomchild": // start a child that outgrows any test limit, outlive it, then sleep
		child := helperCmd("alloc", "512")
		err := child.Run()
		fmt.Printf("child ended: %v\n", err)
		time.Sleep(time.Minute)
		return 0
	case "write": // write args[0] bytes to file args[1], say how many were written and why it stopped
		n, _ := strconv.Atoi(args[0])
		f, err := os.Create(args[1])
		if err != nil {
			fmt.Println(0, err)
			return 1
		}
		buf := make([]byte, 64<<10)
		written := 0
		for written < n && err == nil {
			var k int
			k, err = f.Write(buf[:min(len(buf), n-written)])
			written += k
		}
		fmt.Println(written, err)
		return 0
	case "tree": // start a grandchild that leaves our process group and session
		cmd := helperCmd("sleep")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		fmt.Printf("%d %s", cmd.Process.Pid, line)
		time.Sleep(time.Minute)
		return 0
	case "fds": // say what fds 3 and 4 are: "null" (/dev/null), "pipe", "other", "closed"
		// (The Go runtime itself may hold fd 4+ open on cgroup files, to
		// follow CPU limits, so "open" alone would prove nothing.)
		for _, fd := range []int{3, 4} {
			var st syscall.Stat_t
			kind := "closed"
			if syscall.Fstat(fd, &st) == nil {
				switch {
				case st.Mode&syscall.S_IFMT == syscall.S_IFIFO:
					kind = "pipe"
				case st.Mode&syscall.S_IFMT == syscall.S_IFCHR:
					kind = "null"
				default:
					kind = "other"
				}
			}
			fmt.Printf("%d:%s ", fd, kind)
		}
		fmt.Println()
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// helperCmd is a command that runs this test binary as helper mode.
func helperCmd(mode string, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// readLine returns the first line the process writes to r.
func readLine(t *testing.T, r io.Reader) string {
	t.Helper()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("read helper output: %v (got %q)", err, line)
	}
	return strings.TrimSpace(line)
}

// requireRoot skips tests that need real cgroups when they cannot work.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		t.Skip("no cgroup file system at /sys/fs/cgroup")
	}
}

// waitGone fails the test unless pid ends (or is a zombie) within 2 s of a
// Kill.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for Alive(pid) {
		if time.Now().After(deadline) {
			_, state, _ := procStat(pid)
			t.Fatalf("%s (pid %d, state %c) survived Kill", what, pid, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
