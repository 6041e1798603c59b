package isolation

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"
)

const unifiedMount = "/sys/fs/cgroup"

type v2Hierarchy struct {
	mount  string // where the unified hierarchy is mounted
	parent string // the parent cgroup, e.g. "/mezzo"
	// limits is false only in tests that use the unified hierarchy of a
	// hybrid host, which has no cpu or memory controller.
	limits bool
	// clone3 is whether the kernel (5.7+) can create a process directly in
	// a cgroup (clone3 with CLONE_INTO_CGROUP).
	clone3 bool
}

func newV2(mount, parent string, limits bool) (*v2Hierarchy, error) {
	if filepath.IsAbs(parent) {
		parent = filepath.Clean(parent)
	} else {
		own, err := cgroup2.NestedGroupPath("")
		if err != nil {
			return nil, fmt.Errorf("isolation: cgroup v2: the agent's own cgroup: %w", err)
		}
		parent = filepath.Join(own, parent)
	}
	h := &v2Hierarchy{mount: mount, parent: parent, limits: limits, clone3: kernelAtLeast(5, 7)}
	if limits {
		b, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("isolation: cgroup v2: %w", err)
		}
		for _, c := range []string{"cpu", "memory", "pids"} {
			if !strings.Contains(" "+strings.TrimSpace(string(b))+" ", " "+c+" ") {
				return nil, fmt.Errorf("isolation: cgroup v2: controller %q is not available in %s/cgroup.controllers", c, mount)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(mount, parent), 0o755); err != nil {
		return nil, fmt.Errorf("isolation: create parent cgroup: %w", err)
	}
	return h, nil
}

func (h *v2Hierarchy) describe() string {
	return "cgroup v2, parent " + filepath.Join(h.mount, h.parent)
}

func (h *v2Hierarchy) group(id string) string { return filepath.Join(h.parent, id) }

func (h *v2Hierarchy) create(id string, l Limits) (group, error) {
	dir := filepath.Join(h.mount, h.group(id))
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("cgroup %s already exists (a live container, or a leftover that Cleanup removes)", dir)
	}
	res := &cgroup2.Resources{}
	if h.limits {
		res.CPU, res.Memory, res.Pids = &cgroup2.CPU{}, &cgroup2.Memory{}, &cgroup2.Pids{}
	}
	m, err := cgroup2.NewManager(h.mount, h.group(id), res)
	if err != nil {
		// The usual cause: the agent itself sits in the parent's parent,
		// and cgroup v2 forbids enabling controllers for the children of a
		// cgroup that holds processes.
		return nil, fmt.Errorf("%w (if the agent runs in %s itself, use an absolute parent cgroup or run the agent in a leaf cgroup)", err, filepath.Dir(h.parent))
	}
	g := &v2Group{h: h, dir: dir, m: m}
	if err := g.update(l); err != nil {
		_ = g.remove()
		return nil, err
	}
	return g, nil
}

func (h *v2Hierarchy) children() ([]string, error) {
	return subdirs(filepath.Join(h.mount, h.parent))
}

func (h *v2Hierarchy) load(id string) (group, error) {
	m, err := cgroup2.Load(h.group(id), cgroup2.WithMountpoint(h.mount))
	if err != nil {
		return nil, err
	}
	return &v2Group{h: h, dir: filepath.Join(h.mount, h.group(id)), m: m}, nil
}

type v2Group struct {
	h   *v2Hierarchy
	dir string
	m   *cgroup2.Manager
}

// start creates the process directly inside the cgroup with clone3
// (CLONE_INTO_CGROUP, via SysProcAttr.UseCgroupFD): atomic, no window at
// all. Kernels older than 5.7 use the same held-shim as cgroup v1, and so
// does a start with a file size limit (the shim sets it).
func (g *v2Group) start(cmd *exec.Cmd, fileSize int64) error {
	if !g.h.clone3 {
		return startHeld(cmd, func(pid int) error { return g.m.AddProc(uint64(pid)) }, fileSize)
	}
	fd, err := unix.Open(g.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", g.dir, err)
	}
	defer unix.Close(fd)
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = fd
	if fileSize > 0 {
		return startHeld(cmd, nil, fileSize)
	}
	return cmd.Start()
}

// update writes the limits. CPU weight is 100 per CPU (100 is the kernel's
// default, as 1024 shares are on v1), memory.max is the hard limit,
// memory.swap.max=0 keeps the container from swapping past it,
// memory.oom.group=1 makes an OOM kill take the whole container, so a task
// never limps on with some of its processes gone, and pids.max bounds its
// processes and threads.
func (g *v2Group) update(l Limits) error {
	if !g.h.limits {
		// The file size limit is an rlimit, set whatever the controllers.
		if l.FileSize = 0; l != (Limits{}) {
			return fmt.Errorf("no cpu, memory or pids controller to enforce %v", l)
		}
		return nil
	}
	weight, cpuMax := "100", "max "+strconv.Itoa(cfsPeriod)
	if l.CPUs > 0 {
		weight = strconv.Itoa(int(min(10000, max(1, math.Round(100*l.CPUs)))))
		cpuMax = fmt.Sprintf("%d %d", int64(max(minCFSQuota, math.Round(l.CPUs*cfsPeriod))), cfsPeriod)
	}
	memMax, swapMax, pidsMax := "max", "max", "max"
	if l.MemBytes > 0 {
		memMax, swapMax = strconv.FormatInt(l.MemBytes, 10), "0"
	}
	if l.Pids > 0 {
		pidsMax = strconv.FormatInt(l.Pids, 10)
	}
	writes := [][2]string{
		{"cpu.weight", weight},
		{"cpu.max", cpuMax},
		{"memory.max", memMax},
		{"memory.swap.max", swapMax},
		{"memory.oom.group", "1"},
		{"pids.max", pidsMax},
	}
	for _, w := range writes {
		err := os.WriteFile(filepath.Join(g.dir, w[0]), []byte(w[1]), 0)
		if w[0] == "memory.swap.max" && errors.Is(err, os.ErrNotExist) {
			continue // no swap accounting (or no swap): nothing to escape to
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", w[0], err)
		}
	}
	return nil
}

// kill uses cgroup.kill (Linux 5.14+), which kills the whole subtree
// atomically; older kernels freeze, signal each process, and thaw.
func (g *v2Group) kill() error {
	err := os.WriteFile(filepath.Join(g.dir, "cgroup.kill"), []byte("1"), 0)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, serr := os.Stat(g.dir); serr != nil {
		return nil // already removed: nothing left to kill
	}
	freezeFile := filepath.Join(g.dir, "cgroup.freeze")
	frozen := os.WriteFile(freezeFile, []byte("1"), 0) == nil
	pids, err := pidsUnder(g.dir)
	if err == nil {
		err = killAll(pids)
	}
	if frozen {
		_ = os.WriteFile(freezeFile, []byte("0"), 0)
	}
	return err
}

func (g *v2Group) empty() (bool, error) {
	pids, err := pidsUnder(g.dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	return len(pids) == 0, err
}

// oomKilled reads the oom_kill counter of memory.events.
func (g *v2Group) oomKilled() (bool, error) {
	if !g.h.limits {
		return false, nil
	}
	n, err := readKeyed(filepath.Join(g.dir, "memory.events"), "oom_kill")
	return n > 0, err
}

func (g *v2Group) remove() error { return removeTree(g.dir) }

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(major, minor int) bool {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return false
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	var ma, mi int
	if _, err := fmt.Sscanf(string(b), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}
