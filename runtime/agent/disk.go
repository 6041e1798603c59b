package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"golang.org/x/sys/unix"
)

func diskMB(dir string) (float64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return float64(int64(st.Bavail) * st.Bsize >> 20), nil
}

// fsUsage is the used fraction of the file system holding dir, as Mesos's
// fs::usage: (blocks − free blocks) / blocks.
func fsUsage(dir string) (float64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	if st.Blocks == 0 {
		return 0, fmt.Errorf("statfs %s: no blocks", dir)
	}
	return float64(st.Blocks-st.Bfree) / float64(st.Blocks), nil
}

// Disk quota, as Mesos's disk/du isolator with
// --enforce_container_disk_quota: every ContainerDiskWatchInterval the
// agent measures each live sandbox (du: the blocks allocated to every
// file, directory and link in it, a hard-linked file once) and destroys
// a container whose sandbox uses more than the disk the executor and its
// tasks hold; the tasks fail with REASON_CONTAINER_LIMITATION_DISK. The
// measurement covers the sandbox only: files a task writes elsewhere
// (/tmp) are not counted. A command executor also has its quota as
// RLIMIT_FSIZE (limits.go), so no single file outgrows it between two
// measurements. With Config.IgnoreDiskQuota the agent only measures, and
// logs a sandbox over its quota once; it sets no RLIMIT_FSIZE.

// watchDisk measures the live sandboxes until ctx ends.
func (a *Agent) watchDisk(ctx context.Context) {
	tick := time.NewTicker(a.cfg.ContainerDiskWatchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			a.checkDisk()
		}
	}
}

// checkDisk measures every live sandbox that has a quota once.
func (a *Agent) checkDisk() {
	a.mu.Lock()
	if a.detached {
		a.mu.Unlock()
		return
	}
	var live []*executorProc
	for _, fw := range a.frameworks {
		for _, ex := range fw.executors {
			if !closed(ex.exited) && ex.limited == nil && ex.size.quota > 0 {
				live = append(live, ex)
			}
		}
	}
	a.mu.Unlock()
	sort.Slice(live, func(i, j int) bool { return live[i].sandbox < live[j].sandbox })
	for _, ex := range live {
		l, over := a.overQuota(ex)
		if !over {
			continue
		}
		if !a.cfg.IgnoreDiskQuota {
			a.limit(ex, l)
			continue
		}
		a.mu.Lock()
		warned := ex.diskWarned
		ex.diskWarned = true
		a.mu.Unlock()
		if !warned {
			a.log.Warn("sandbox over its disk quota; not enforced", "framework", string(ex.fw), "executor", string(ex.info.ID), "message", l.message)
		}
	}
}

// overQuota measures ex's sandbox and says whether it uses more than its
// container's disk (never, without one).
func (a *Agent) overQuota(ex *executorProc) (limitation, bool) {
	a.mu.Lock()
	quota, byDefault := ex.size.quota, ex.size.quotaByDefault
	a.mu.Unlock()
	which := "quota"
	if byDefault {
		which = "the agent's default quota for containers that declare no disk"
	}
	if quota <= 0 {
		return limitation{}, false
	}
	usage, err := sandboxUsage(ex.sandbox)
	if err != nil && usage <= quota {
		// The agent, as root, can read whatever a task makes; a sandbox
		// part of which it still cannot measure is one a task has hidden
		// data in (nested past PATH_MAX), so it is held to be over.
		return limitation{reason: mezzo.ReasonDiskLimit, message: fmt.Sprintf(
			"disk quota exceeded: the sandbox cannot be measured (%v); the rest uses %s of %s %s", err, megabytes(usage), which, megabytes(quota))}, true
	}
	if usage <= quota {
		return limitation{}, false
	}
	return limitation{reason: mezzo.ReasonDiskLimit, message: fmt.Sprintf(
		"disk quota exceeded: disk usage (%s) exceeds %s (%s)", megabytes(usage), which, megabytes(quota))}, true
}

// sandboxUsage is what du counts under dir: the blocks allocated to
// every entry (not following links; a file with several links once). An
// entry that cannot be measured (a tree nested past PATH_MAX, say) is
// skipped and its error returned with the usage of the rest.
func sandboxUsage(dir string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var total int64
	var first error
	skip := func(d fs.DirEntry, err error) error {
		if first == nil {
			first = err
		}
		if d != nil && d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return skip(d, err)
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return skip(d, err)
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			k := inode{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += st.Blocks * 512
		return nil
	})
	if err != nil {
		return total, err
	}
	return total, first
}
