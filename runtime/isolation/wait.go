package isolation

import (
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"
)

// waiter reaps the started process in its own goroutine as soon as it exits,
// so that Wait can be called many times and Kill never races with reaping.
// When oom is not nil it is asked, right after reaping and while the cgroup
// still exists, whether the container hit its memory limit, and polled
// while the process runs, so that a child the kernel killed inside a
// container whose started process lives on is seen at once.
type waiter struct {
	done chan struct{}
	info ExitInfo
	err  error

	oom     chan struct{} // closed on the first OOM kill seen
	oomOnce sync.Once
}

// oomPoll is how often a running container's OOM counter is read. The
// parent of a killed child may run for days; a quarter of a second costs
// one read of a small kernel file.
const oomPoll = 250 * time.Millisecond

func (w *waiter) start(cmd *exec.Cmd, oom func() (bool, error)) {
	w.init(oom)
	go func() {
		defer close(w.done)
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil || errors.As(err, &ee):
			w.info = exitInfoOf(cmd.ProcessState)
		default:
			// The process ended but copying its output failed, or Wait
			// was called elsewhere; the exit status may still be known.
			w.err = err
			if cmd.ProcessState != nil {
				w.info = exitInfoOf(cmd.ProcessState)
			}
		}
		w.finalOOM(oom)
	}()
}

// init makes the channels and, with an OOM counter to read, starts
// polling it until the process ends.
func (w *waiter) init(oom func() (bool, error)) {
	w.done = make(chan struct{})
	w.oom = make(chan struct{})
	if oom == nil {
		return
	}
	go func() {
		tick := time.NewTicker(oomPoll)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
				// An error (the cgroup being removed) is left to the
				// final read, which reports it.
				if killed, err := oom(); err == nil && killed {
					w.sawOOM()
					return
				}
			}
		}
	}()
}

// finalOOM reads the OOM counter once the process has ended.
func (w *waiter) finalOOM(oom func() (bool, error)) {
	if oom == nil {
		return
	}
	killed, err := oom()
	w.info.OOMKilled = killed
	if w.err == nil && err != nil {
		w.err = fmt.Errorf("isolation: read OOM counter: %w", err)
	}
	if killed {
		w.sawOOM()
	}
}

func (w *waiter) sawOOM() { w.oomOnce.Do(func() { close(w.oom) }) }

// OOM is Container.OOM.
func (w *waiter) OOM() <-chan struct{} { return w.oom }

// wait blocks until the process is reaped.
func (w *waiter) wait() (ExitInfo, error) {
	<-w.done
	return w.info, w.err
}
