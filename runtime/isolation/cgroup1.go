package isolation

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// cfsPeriod is the CFS bandwidth period in microseconds (the kernel's
// default): a container of c CPUs may run c*cfsPeriod µs per period.
const cfsPeriod = 100000

// minCFSQuota is the smallest quota the kernel accepts (1 ms).
const minCFSQuota = 1000

// v1Controllers are the cgroup v1 controllers a container joins: cpu,
// memory and pids enforce the limits, freezer makes Kill atomic against
// forks. All are required: a container without pids.max is one fork bomb
// away from taking every pid of the machine.
var v1Controllers = []cgroup1.Name{cgroup1.Cpu, cgroup1.Memory, cgroup1.Freezer, cgroup1.Pids}

type v1Hierarchy struct {
	parent     cgroup1.Path // the parent cgroup, per controller
	parentName string
	subsystems []cgroup1.Subsystem
	memsw      bool // swap accounting on: memory.memsw.* exists
}

type pather interface{ Path(string) string }

func newV1(parent string) (*v1Hierarchy, error) {
	all, err := cgroup1.Default()
	if err != nil {
		return nil, fmt.Errorf("isolation: cgroup v1: %w", err)
	}
	h := &v1Hierarchy{parentName: parent}
	found := map[cgroup1.Name]bool{}
	for _, s := range all {
		for _, n := range v1Controllers {
			if s.Name() == n {
				h.subsystems = append(h.subsystems, s)
				found[n] = true
			}
		}
	}
	for _, n := range v1Controllers {
		if !found[n] {
			return nil, fmt.Errorf("isolation: cgroup v1 controller %q is not mounted under /sys/fs/cgroup", n)
		}
	}
	if filepath.IsAbs(parent) {
		h.parent = cgroup1.StaticPath(filepath.Clean(parent))
	} else {
		h.parent = cgroup1.NestedPath(parent)
	}
	mem, err := h.dir(cgroup1.Memory, "")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(mem, 0o755); err != nil {
		return nil, fmt.Errorf("isolation: create parent cgroup %s: %w", mem, err)
	}
	_, err = os.Stat(filepath.Join(mem, "memory.memsw.limit_in_bytes"))
	h.memsw = err == nil
	cpu, err := h.dir(cgroup1.Cpu, "")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cpu, 0o755); err != nil {
		return nil, fmt.Errorf("isolation: create parent cgroup %s: %w", cpu, err)
	}
	if _, err := os.Stat(filepath.Join(cpu, "cpu.cfs_quota_us")); err != nil {
		return nil, fmt.Errorf("isolation: cgroup v1: no CFS bandwidth control (cpu.cfs_quota_us) in %s", cpu)
	}
	return h, nil
}

func (h *v1Hierarchy) describe() string {
	d, _ := h.dir(cgroup1.Memory, "")
	s := "cgroup v1, parent " + d
	if !h.memsw {
		s += ", no swap accounting: a container may swap past its memory limit"
	}
	return s
}

// path is the cgroup of container id (relative to each controller's mount).
func (h *v1Hierarchy) path(id string) cgroup1.Path {
	return func(n cgroup1.Name) (string, error) {
		p, err := h.parent(n)
		if err != nil {
			return "", err
		}
		return filepath.Join(p, id), nil
	}
}

// dir is the absolute directory of container id ("" for the parent) in
// controller n.
func (h *v1Hierarchy) dir(n cgroup1.Name, id string) (string, error) {
	for _, s := range h.subsystems {
		if s.Name() != n {
			continue
		}
		p, err := h.path(id)(n)
		if err != nil {
			return "", fmt.Errorf("isolation: cgroup v1 path for %s: %w", n, err)
		}
		return s.(pather).Path(p), nil
	}
	return "", fmt.Errorf("isolation: cgroup v1 controller %q not in use", n)
}

func (h *v1Hierarchy) hierarchy() ([]cgroup1.Subsystem, error) { return h.subsystems, nil }

func (h *v1Hierarchy) create(id string, l Limits) (group, error) {
	mem, err := h.dir(cgroup1.Memory, id)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(mem); err == nil {
		return nil, fmt.Errorf("cgroup %s already exists (a live container, or a leftover that Cleanup removes)", mem)
	}
	cg, err := cgroup1.New(h.path(id), &specs.LinuxResources{}, cgroup1.WithHierarchy(h.hierarchy))
	if err != nil {
		return nil, err
	}
	g := &v1Group{h: h, id: id, cg: cg}
	if err := g.update(l); err != nil {
		_ = g.remove()
		return nil, err
	}
	return g, nil
}

func (h *v1Hierarchy) children() ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for _, s := range h.subsystems {
		d, err := h.dir(s.Name(), "")
		if err != nil {
			return nil, err
		}
		subs, err := subdirs(d)
		if err != nil {
			return nil, err
		}
		for _, n := range subs {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names, nil
}

func (h *v1Hierarchy) load(id string) (group, error) {
	cg, err := cgroup1.Load(h.path(id), cgroup1.WithHierarchy(h.hierarchy))
	if err != nil {
		return nil, err
	}
	return &v1Group{h: h, id: id, cg: cg}, nil
}

type v1Group struct {
	h  *v1Hierarchy
	id string
	cg cgroup1.Cgroup
}

func (g *v1Group) start(cmd *exec.Cmd, fileSize int64) error {
	return startHeld(cmd, func(pid int) error {
		if err := g.cg.AddProc(uint64(pid)); err != nil {
			return fmt.Errorf("add pid %d to cgroup: %w", pid, err)
		}
		return nil
	}, fileSize)
}

func (g *v1Group) update(l Limits) error {
	shares, quota := uint64(1024), int64(-1)
	if l.CPUs > 0 {
		shares = uint64(max(2, math.Round(1024*l.CPUs)))
		quota = int64(max(minCFSQuota, math.Round(l.CPUs*cfsPeriod)))
	}
	period := uint64(cfsPeriod)
	err := g.cg.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares, Quota: &quota, Period: &period}})
	if err != nil {
		return fmt.Errorf("cpu limits: %w", err)
	}
	if err := g.setMemory(l.MemBytes); err != nil {
		return err
	}
	return g.setPids(l.Pids)
}

// setPids writes pids.max ("max" for no limit).
func (g *v1Group) setPids(n int64) error {
	dir, err := g.h.dir(cgroup1.Pids, g.id)
	if err != nil {
		return err
	}
	v := "max"
	if n > 0 {
		v = fmt.Sprint(n)
	}
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(v), 0); err != nil {
		return fmt.Errorf("pids limit: %w", err)
	}
	return nil
}

// setMemory writes memory.limit_in_bytes and, with swap accounting,
// memory.memsw.limit_in_bytes (memory plus swap) to the same value, so a
// container cannot escape its limit by swapping. The kernel requires
// limit <= memsw at every moment, so a raise writes memsw first and a cut
// writes limit first. (containerd's Update gets this order wrong.)
func (g *v1Group) setMemory(bytes int64) error {
	dir, err := g.h.dir(cgroup1.Memory, g.id)
	if err != nil {
		return err
	}
	v := "-1"
	if bytes > 0 {
		v = fmt.Sprint(bytes)
	}
	files := []string{"memory.limit_in_bytes"}
	if g.h.memsw {
		cur, err := readInt(filepath.Join(dir, "memory.limit_in_bytes"))
		if err != nil {
			return err
		}
		if bytes <= 0 || bytes > cur {
			files = []string{"memory.memsw.limit_in_bytes", "memory.limit_in_bytes"}
		} else {
			files = append(files, "memory.memsw.limit_in_bytes")
		}
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0); err != nil {
			return fmt.Errorf("memory limit: %w", err)
		}
	}
	return nil
}

// kill freezes the cgroup so nothing in it can fork, SIGKILLs every process,
// and thaws it so the signals are delivered.
func (g *v1Group) kill() error {
	freezer, err := g.h.dir(cgroup1.Freezer, g.id)
	if err != nil {
		return err
	}
	// An empty cgroup stays empty (only Start adds processes), and
	// freezing it costs milliseconds, so look first.
	if pids, err := pidsUnder(freezer); err != nil || len(pids) == 0 {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	state := filepath.Join(freezer, "freezer.state")
	_ = freeze(state, "FROZEN")
	pids, err := pidsUnder(freezer)
	if err == nil {
		err = killAll(pids)
	}
	// Thaw even when the freeze did not complete: a cgroup left FREEZING
	// keeps the tasks already frozen, and a frozen task does not die of
	// SIGKILL until thawed. A stopped task (SIGSTOP) can hold a v1 cgroup
	// in FREEZING past freeze's wait, and the container then never emptied.
	_ = freeze(state, "THAWED")
	return err
}

// freeze sets a v1 freezer state and waits briefly until it holds. A
// process stuck in the kernel can keep a cgroup FREEZING; after the wait
// the caller kills anyway, and the caller's retry loop catches late forks.
func freeze(file, state string) bool {
	for i := 0; i < 100; i++ {
		if err := os.WriteFile(file, []byte(state), 0); err != nil {
			return false
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		if strings.TrimSpace(string(b)) == state {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

func (g *v1Group) empty() (bool, error) {
	for _, s := range g.h.subsystems {
		d, err := g.h.dir(s.Name(), g.id)
		if err != nil {
			return false, err
		}
		pids, err := pidsUnder(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil || len(pids) > 0 {
			return false, err
		}
	}
	return true, nil
}

// oomKilled reads the oom_kill counter of memory.oom_control (Linux 4.13+).
func (g *v1Group) oomKilled() (bool, error) {
	dir, err := g.h.dir(cgroup1.Memory, g.id)
	if err != nil {
		return false, err
	}
	n, err := readKeyed(filepath.Join(dir, "memory.oom_control"), "oom_kill")
	return n > 0, err
}

func (g *v1Group) remove() error {
	var errs []error
	for _, s := range g.h.subsystems {
		d, err := g.h.dir(s.Name(), g.id)
		if err != nil {
			return err
		}
		errs = append(errs, removeTree(d))
	}
	return errors.Join(errs...)
}

// killAll SIGKILLs the given processes; ones that are already gone are fine.
func killAll(pids []int) error {
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill pid %d: %w", pid, err)
		}
	}
	return nil
}
