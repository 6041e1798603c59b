package agent

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Sandbox garbage collection, as Mesos's --gc_delay and
// --gc_disk_headroom. The sandbox of an executor that has ended (its
// tasks' ends stored) is scheduled for removal GCDelay after its end.
// Every DiskWatchInterval the file system of the work dir is measured,
// and every scheduled sandbox older than
//
//	GCDelay × max(0, 1 − GCDiskHeadroom − usage)
//
// is removed at once: the fuller the disk, the sooner, oldest first, and
// all of them once usage passes 1 − GCDiskHeadroom. A restarted agent
// schedules the sandboxes it finds of executors it did not adopt, aged
// from their directory's modification time. A sandbox is removed only
// if no executor the agent has (started or adopted) has it: each pass
// takes that set under the agent's lock (liveSandboxes). A removal that
// fails is logged once and tried again every DiskWatchInterval until it
// succeeds. Status update files (status.go) are not sandboxes and are not
// collected here.

// sandboxGC is the set of sandboxes scheduled for removal, by when their
// executor ended. It is safe for concurrent use.
type sandboxGC struct {
	mu    sync.Mutex
	since map[string]time.Time
	// retryAt holds the sandboxes whose removal failed (out of
	// descriptors, a mount a task left inside, an I/O error), and when to
	// try again: a sandbox the agent gives up on holds its disk for good.
	retryAt map[string]time.Time
	wake    chan struct{}
}

func newSandboxGC() *sandboxGC {
	return &sandboxGC{since: map[string]time.Time{}, retryAt: map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

// schedule adds dir, ended at the given time (a later schedule of the
// same dir replaces it).
func (g *sandboxGC) schedule(dir string, ended time.Time) {
	g.mu.Lock()
	g.since[dir] = ended
	delete(g.retryAt, dir)
	g.mu.Unlock()
	g.poke()
}

func (g *sandboxGC) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// take removes dir from the schedule, and returns when it ended and
// whether its removal has failed before.
func (g *sandboxGC) take(dir string) (ended time.Time, failed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ended = g.since[dir]
	_, failed = g.retryAt[dir]
	delete(g.since, dir)
	delete(g.retryAt, dir)
	return ended, failed
}

// retryLater puts back dir, whose removal failed, to be tried again at
// (not before).
func (g *sandboxGC) retryLater(dir string, ended, at time.Time) {
	g.mu.Lock()
	g.since[dir], g.retryAt[dir] = ended, at
	g.mu.Unlock()
	g.poke()
}

// expired lists the sandboxes ended at least maxAge before now, oldest
// first (ties by path, so the order never depends on the map), less those
// whose retry is not due.
func (g *sandboxGC) expired(now time.Time, maxAge time.Duration) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for dir, t := range g.since {
		if now.Sub(t) >= maxAge && !g.retryAt[dir].After(now) {
			out = append(out, dir)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := g.since[out[i]], g.since[out[j]]
		return ti.Before(tj) || ti.Equal(tj) && out[i] < out[j]
	})
	return out
}

// nextDue is when the first scheduled sandbox comes due with delay: its
// end plus delay, or its retry if that is later.
func (g *sandboxGC) nextDue(delay time.Duration) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var first time.Time
	for dir, t := range g.since {
		due := t.Add(delay)
		if r := g.retryAt[dir]; r.After(due) {
			due = r
		}
		if first.IsZero() || due.Before(first) {
			first = due
		}
	}
	return first, !first.IsZero()
}

// maxSandboxAge is Mesos's Slave::age: how old a scheduled sandbox may
// grow with the work dir's file system at usage (a fraction).
func maxSandboxAge(delay time.Duration, headroom, usage float64) time.Duration {
	return time.Duration(float64(delay) * math.Max(0, 1-headroom-usage))
}

// gcLoop removes sandboxes as they come due, and sooner when the disk
// fills, until ctx ends.
func (a *Agent) gcLoop(ctx context.Context) {
	disk := time.NewTicker(a.cfg.DiskWatchInterval)
	defer disk.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Hour
		if t, ok := a.gc.nextDue(a.cfg.GCDelay); ok {
			wait = max(time.Until(t), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-a.gc.wake:
		case <-timer.C:
			a.collectSandboxes(time.Now(), a.cfg.GCDelay)
		case <-disk.C:
			usage, err := fsUsage(a.cfg.WorkDir)
			if err != nil {
				a.log.Warn("measuring the work dir's disk usage", "err", err)
				continue
			}
			age := maxSandboxAge(a.cfg.GCDelay, a.cfg.GCDiskHeadroom, usage)
			a.log.Debug("work dir disk usage", "usage", usage, "max_sandbox_age", age)
			a.collectSandboxes(time.Now(), age)
		}
	}
}

// collectSandboxes removes the scheduled sandboxes at least maxAge old,
// oldest first, except one a live executor has.
func (a *Agent) collectSandboxes(now time.Time, maxAge time.Duration) {
	expired := a.gc.expired(now, maxAge)
	if len(expired) == 0 {
		return
	}
	// Taken once: an executor started after this has a sandbox of a new
	// number (newSandbox never reuses one), never one of these.
	live := a.liveSandboxes()
	for _, dir := range expired {
		ended, failed := a.gc.take(dir)
		if live[dir] {
			// Rescheduled when that executor ends.
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			retry := now.Add(a.cfg.DiskWatchInterval)
			if !failed { // once, until it is removed
				a.log.Warn("removing a sandbox; retried", "sandbox", dir, "err", err, "retry", a.cfg.DiskWatchInterval)
			}
			a.gc.retryLater(dir, ended, retry)
			continue
		}
		// The framework's directory goes with its last sandbox; under the
		// lock, so that it is not removed under an executor being given
		// a sandbox in it (rmdir fails on a directory that is not empty).
		a.mu.Lock()
		_ = os.Remove(filepath.Dir(dir))
		a.mu.Unlock()
		a.log.Info("sandbox removed", "sandbox", dir, "max_age", maxAge)
	}
}

// scheduleLeftoverSandboxes schedules, at start-up, the sandboxes of
// executors that are not running (a previous run's), aged from their
// directory's modification time, and removes framework directories left
// empty. Call it after recoverExecutors.
func (a *Agent) scheduleLeftoverSandboxes() {
	live := a.liveSandboxes()
	fws, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, sandboxesDir, "f-*"))
	for _, fw := range fws {
		dirs, _ := filepath.Glob(filepath.Join(fw, "e-*"))
		if len(dirs) == 0 {
			_ = os.Remove(fw)
			continue
		}
		for _, dir := range dirs {
			if live[dir] {
				continue
			}
			st, err := os.Lstat(dir)
			if err != nil || !st.IsDir() {
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					a.log.Warn("a leftover sandbox", "sandbox", dir, "err", err)
				}
				continue
			}
			a.gc.schedule(dir, st.ModTime())
		}
	}
}
