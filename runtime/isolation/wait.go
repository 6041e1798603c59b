package isolation

import (
	"errors"
	"fmt"
	"os/exec"
)

// waiter reaps the started process in its own goroutine as soon as it exits,
// so that Wait can be called many times and Kill never races with reaping.
// When oom is not nil it is asked, right after reaping and while the cgroup
// still exists, whether the container hit its memory limit.
type waiter struct {
	done chan struct{}
	info ExitInfo
	err  error
}

func (w *waiter) start(cmd *exec.Cmd, oom func() (bool, error)) {
	w.done = make(chan struct{})
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
		if oom != nil {
			killed, err := oom()
			w.info.OOMKilled = killed
			if w.err == nil && err != nil {
				w.err = fmt.Errorf("isolation: read OOM counter: %w", err)
			}
		}
	}()
}

// wait blocks until the process is reaped.
func (w *waiter) wait() (ExitInfo, error) {
	<-w.done
	return w.info, w.err
}
