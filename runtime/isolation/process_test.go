package isolation

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mezzo-cluster/mezzo"
)

func TestProcessIsolatorReportsExitCodes(t *testing.T) {
	iso, err := New("process", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(iso.Name(), "no isolation") {
		t.Errorf("Name() = %q; want it to say it does not isolate", iso.Name())
	}
	for _, code := range []int{0, 3, 42} {
		c, err := iso.Start("exit-"+strconv.Itoa(code), helperCmd("exit", strconv.Itoa(code)), Limits{CPUs: 1})
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Wait()
		if err != nil || info.Code != code || info.Signal != 0 || info.OOMKilled {
			t.Errorf("exit %d: Wait = %+v, %v", code, info, err)
		}
		if info.Success() != (code == 0) {
			t.Errorf("exit %d: Success() = %v", code, info.Success())
		}
		// Wait may be called again and says the same.
		if again, _ := c.Wait(); again != info {
			t.Errorf("second Wait = %+v, first %+v", again, info)
		}
		if err := c.Destroy(); err != nil {
			t.Errorf("Destroy after exit: %v", err)
		}
	}
	if _, err := iso.Start("", helperCmd("exit", "0"), Limits{}); err == nil {
		t.Error("Start with an empty id: no error")
	}
	if adopted, removed, err := iso.Recover(nil); err != nil || len(removed) != 0 || len(adopted) != 0 {
		t.Errorf("Recover(nil) = %v, %v, %v; want nothing", adopted, removed, err)
	}
}

// Kill reaches the children that stay in the process group.
func TestProcessIsolatorKillKillsTheGroup(t *testing.T) {
	iso, _ := New("process", Options{})
	cmd := exec.Command("/bin/sh", "-c", "sleep 60 & echo $!; wait")
	out, _ := cmd.StdoutPipe()
	c, err := iso.Start("group", cmd, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(readLine(t, out))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if info, _ := c.Wait(); info.Signal != syscall.SIGKILL {
		t.Errorf("Wait after Kill = %v; want SIGKILL", info)
	}
	waitGone(t, child, "the child in the process group")
}

func TestLimitsFor(t *testing.T) {
	r := mezzo.MustResources(map[string]float64{mezzo.CPUs: 1.5, mezzo.Mem: 64, mezzo.Disk: 100})
	if got, want := LimitsFor(r), (Limits{CPUs: 1.5, MemBytes: 64 << 20}); got != want {
		t.Errorf("LimitsFor(%v) = %+v, want %+v", r, got, want)
	}
	if got := LimitsFor(mezzo.Resources{}); got != (Limits{}) {
		t.Errorf("LimitsFor(empty) = %+v, want unlimited", got)
	}
}

func TestExitInfoString(t *testing.T) {
	for _, tc := range []struct {
		info ExitInfo
		want string
	}{
		{ExitInfo{Code: 2}, "exited with status 2"},
		{ExitInfo{Code: -1, Signal: syscall.SIGKILL, OOMKilled: true}, "killed by signal killed: memory limit reached"},
	} {
		if got := tc.info.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.info, got, tc.want)
		}
	}
}
