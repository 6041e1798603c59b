package isolation

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3"
)

// hierarchy is one cgroup version's way of managing the containers under the
// parent cgroup.
type hierarchy interface {
	// describe names the version and the parent, for messages.
	describe() string
	// create makes an empty cgroup for id with the limits; it fails if one
	// already exists.
	create(id string, l Limits) (group, error)
	// children lists the cgroups directly under the parent.
	children() ([]string, error)
	// load opens an existing cgroup under the parent.
	load(id string) (group, error)
}

// group is one container's cgroup.
type group interface {
	// start starts cmd so that it is in the cgroup, and has fileSize (when
	// positive) as its RLIMIT_FSIZE, before it runs its own code.
	start(cmd *exec.Cmd, fileSize int64) error
	update(l Limits) error
	// kill sends SIGKILL to every process in the cgroup and its descendants.
	kill() error
	// empty reports whether no process is left in the cgroup.
	empty() (bool, error)
	// oomKilled reports whether the kernel OOM killer killed a process of
	// the cgroup because of its memory limit.
	oomKilled() (bool, error)
	// remove deletes the (empty) cgroup and any cgroups below it.
	remove() error
}

type cgroupsIsolator struct {
	h hierarchy
}

func newCgroups(opts Options) (*cgroupsIsolator, error) {
	const hint = "; run as root on a host with cgroups, or use --isolation=process (no isolation)"
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("isolation: the cgroups isolator needs root (running as uid %d)%s", os.Geteuid(), hint)
	}
	parent := opts.Parent
	if parent == "" {
		parent = DefaultParent
	}
	var (
		h   hierarchy
		err error
	)
	switch mode := cgroups.Mode(); mode {
	case cgroups.Legacy, cgroups.Hybrid:
		h, err = newV1(parent)
	case cgroups.Unified:
		h, err = newV2(unifiedMount, parent, true)
	default:
		return nil, fmt.Errorf("isolation: no cgroup file system is mounted at %s%s", unifiedMount, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("%w%s", err, hint)
	}
	slog.Info("isolation: cgroups", "hierarchy", h.describe())
	return &cgroupsIsolator{h: h}, nil
}

// Cleanup kills and removes every container left under parent by a
// previous agent run and returns their names. It is the same as
// New("cgroups", Options{Parent: parent}) followed by Recover(nil).
func Cleanup(parent string) ([]string, error) {
	iso, err := newCgroups(Options{Parent: parent})
	if err != nil {
		return nil, err
	}
	_, removed, err := iso.Recover(nil)
	return removed, err
}

func (i *cgroupsIsolator) Name() string { return "cgroups (" + i.h.describe() + ")" }

func (i *cgroupsIsolator) Start(id string, cmd *exec.Cmd, limits Limits) (Container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := limits.validate(); err != nil {
		return nil, err
	}
	g, err := i.h.create(id, limits)
	if err != nil {
		return nil, fmt.Errorf("isolation: create container %s: %w", id, err)
	}
	ownProcessGroup(cmd)
	if err := g.start(cmd, limits.FileSize); err != nil {
		_ = g.kill()
		_ = g.remove()
		return nil, fmt.Errorf("isolation: start container %s: %w", id, err)
	}
	c := &cgroupContainer{id: id, g: g, fileSize: limits.FileSize}
	c.proc, _ = HandleOf(id, cmd.Process.Pid)
	c.waiter.start(cmd, g.oomKilled)
	return c, nil
}

// Recover adopts the known containers whose started process still runs
// and drains and removes every other cgroup under the parent, including a
// known one whose started process is gone but whose stragglers (children
// it left) are not: there is nothing to reconnect to. An adopted container
// lives until its cgroup is empty.
func (i *cgroupsIsolator) Recover(known []Handle) (map[string]Container, []string, error) {
	want := map[string]Handle{}
	for _, h := range known {
		if err := checkID(h.ID); err != nil {
			return nil, nil, err
		}
		if running(h) {
			want[h.ID] = h
		}
	}
	names, err := i.h.children()
	if err != nil {
		return nil, nil, err
	}
	adopted := map[string]Container{}
	var removed []string
	var errs []error
	for _, name := range names {
		g, err := i.h.load(name)
		if h, ok := want[name]; err == nil && ok {
			var empty bool
			if empty, err = g.empty(); err == nil && !empty {
				// Its file size limit is unknown here: the first Update
				// sets it.
				c := &cgroupContainer{id: name, g: g, proc: h, fileSize: -1}
				c.waiter.watch(g.empty, g.oomKilled)
				adopted[name] = c
				continue
			}
		}
		if err == nil {
			err = drain(g)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("isolation: clean up leftover container %s: %w", name, err))
			continue
		}
		removed = append(removed, name)
	}
	return adopted, removed, errors.Join(errs...)
}

type cgroupContainer struct {
	waiter
	id   string
	g    group
	proc Handle // the started process, for its file size limit

	mu        sync.Mutex
	destroyed bool
	fileSize  int64 // as last set; -1 unknown (adopted)
}

func (c *cgroupContainer) Wait() (ExitInfo, error) { return c.wait() }

func (c *cgroupContainer) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return nil
	}
	if err := c.g.kill(); err != nil {
		return fmt.Errorf("isolation: kill container %s: %w", c.id, err)
	}
	return nil
}

func (c *cgroupContainer) Update(l Limits) error {
	if err := l.validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return fmt.Errorf("isolation: update container %s: already destroyed", c.id)
	}
	if err := c.g.update(l); err != nil {
		return fmt.Errorf("isolation: update container %s to %v: %w", c.id, l, err)
	}
	// An adopted container's limit is unknown; asked for none, it keeps
	// whatever the previous run gave it.
	unknownKept := c.fileSize < 0 && l.FileSize == 0
	if l.FileSize != c.fileSize && !unknownKept && running(c.proc) {
		if err := setFileSize(c.proc.Pid, l.FileSize); err != nil {
			return fmt.Errorf("isolation: update container %s to %v: %w", c.id, l, err)
		}
		c.fileSize = l.FileSize
	}
	return nil
}

// reapTimeout bounds how long Destroy waits for SIGKILLed processes to go.
// SIGKILL cannot be caught, so only a process stuck in the kernel (e.g. on a
// dead NFS mount) takes longer; Destroy then reports it instead of hanging.
const reapTimeout = 5 * time.Second

func (c *cgroupContainer) Destroy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return nil
	}
	if err := c.g.kill(); err != nil {
		return fmt.Errorf("isolation: destroy container %s: %w", c.id, err)
	}
	// The OOM verdict is read when the started process is reaped; wait for
	// that before the cgroup (and its counters) disappear.
	select {
	case <-c.done:
	case <-time.After(reapTimeout):
		return fmt.Errorf("isolation: destroy container %s: process not reaped %v after SIGKILL", c.id, reapTimeout)
	}
	if err := drain(c.g); err != nil {
		return fmt.Errorf("isolation: destroy container %s: %w", c.id, err)
	}
	c.destroyed = true
	return nil
}

// drain kills the group until no process is left, then removes it.
// Killing again each round catches processes forked while the first SIGKILLs
// were being delivered.
func drain(g group) error {
	deadline := time.Now().Add(reapTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		if err := g.kill(); err != nil {
			return err
		}
		empty, err := g.empty()
		if err != nil {
			return err
		}
		if empty {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes still running %v after SIGKILL", reapTimeout)
		}
		time.Sleep(delay)
	}
	return g.remove()
}
