package executor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// DefaultGracePeriod is how long a killed task has between SIGTERM and
// SIGKILL.
const DefaultGracePeriod = 3 * time.Second

// Command is the default executor: it runs each task's CommandInfo as a
// child process in its own process group, in the executor's working
// directory (the sandbox), with the task's output in
// task-<id>.stdout/.stderr there (TaskOutputFiles), rotated: the task writes to a pipe, and
// the executor copies it into files of at most LogMaxSize bytes, keeping
// LogMaxFiles older ones as task-<id>.stdout.1 (the newest), .2, ...
// A task with no command stands for its Duration: RUNNING, then FINISHED
// after that long, without a process.
//
// With Shell false, CommandInfo.Value is the program and Args the arguments
// that follow it (not argv[0]).
type Command struct {
	// GracePeriod between SIGTERM and SIGKILL; 0 means DefaultGracePeriod.
	GracePeriod time.Duration
	// Dir is where tasks run and write their output; "" is the current
	// directory.
	Dir string
	// LogMaxSize is the largest a task's output file grows before it is
	// rotated, and LogMaxFiles how many rotated files are kept per
	// stream; 0 means DefaultLogMaxSize, DefaultLogMaxFiles.
	LogMaxSize  int64
	LogMaxFiles int

	mu    sync.Mutex
	tasks map[mezzo.TaskID]*commandTask
	wg    sync.WaitGroup
}

// NewCommand returns a command executor with default settings.
func NewCommand() *Command { return &Command{} }

type commandTask struct {
	cmd    *exec.Cmd     // nil for a no-op task
	timer  *time.Timer   // no-op tasks only
	killed chan struct{} // closed by KillTask
	once   sync.Once
	exited atomic.Bool // the process is reaped: its pid may be reused
}

var _ mezzo.Executor = (*Command)(nil)

// Registered is a no-op: the command executor needs nothing from its info.
func (c *Command) Registered(mezzo.ExecutorDriver, mezzo.ExecutorInfo, mezzo.FrameworkID, mezzo.AgentID) {
}

// LaunchTask starts the task and reports TASK_RUNNING, or TASK_FAILED when
// the command cannot start.
func (c *Command) LaunchTask(d mezzo.ExecutorDriver, task mezzo.TaskInfo) {
	c.mu.Lock()
	if c.tasks == nil {
		c.tasks = map[mezzo.TaskID]*commandTask{}
	}
	if _, dup := c.tasks[task.ID]; dup {
		c.mu.Unlock()
		_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskError, Reason: mezzo.ReasonTaskInvalid, Message: "task ID already running on this executor"})
		return
	}
	t := &commandTask{killed: make(chan struct{})}
	c.tasks[task.ID] = t
	c.mu.Unlock()

	if task.Command == nil {
		c.launchNoop(d, task, t)
		return
	}
	cmd, outputs, err := c.command(task)
	if err == nil {
		err = cmd.Start()
		if err != nil {
			closeFiles(cmd)
		}
	}
	if err != nil {
		c.forget(task.ID)
		msg := fmt.Sprintf("cannot start command %q: %v", task.Command.Value, err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			msg = fmt.Sprintf("command %q not found: %v", task.Command.Value, err)
		}
		_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskFailed, Reason: mezzo.ReasonCommandExited, Message: msg})
		return
	}
	closeFiles(cmd)
	t.cmd = cmd
	_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskRunning})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		err := cmd.Wait()
		t.exited.Store(true)
		drainOutputs(outputs)
		c.forget(task.ID)
		_ = d.SendStatusUpdate(exitStatus(task, err, t))
	}()
}

func (c *Command) launchNoop(d mezzo.ExecutorDriver, task mezzo.TaskInfo, t *commandTask) {
	_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskRunning})
	c.wg.Add(1)
	t.timer = time.NewTimer(task.Duration)
	go func() {
		defer c.wg.Done()
		st := mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskFinished}
		select {
		case <-t.timer.C:
		case <-t.killed:
			t.timer.Stop()
			st = mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskKilled, Message: "killed before its duration ended"}
		}
		c.forget(task.ID)
		_ = d.SendStatusUpdate(st)
	}()
}

// command builds the task's process, its output pipes and their copiers
// (whose ends it returns); the caller closes cmd's pipe ends once the
// process has them, or on failure.
func (c *Command) command(task mezzo.TaskInfo) (*exec.Cmd, []<-chan struct{}, error) {
	ci := task.Command
	var cmd *exec.Cmd
	if ci.Shell {
		cmd = exec.Command("/bin/sh", "-c", ci.Value)
	} else {
		if ci.Value == "" {
			return nil, nil, errors.New("empty command")
		}
		cmd = exec.Command(ci.Value, ci.Args...)
		if cmd.Err != nil {
			return nil, nil, cmd.Err
		}
	}
	cmd.Dir = c.Dir
	// The token authenticates this executor to its agent; tasks do not get
	// it, nor the number of the descriptor it came on (ConfigFromEnv has
	// unset both already; an executor built on Command without it has not).
	env := make([]string, 0, len(os.Environ())+len(ci.Env)+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvExecutorToken+"=") && !strings.HasPrefix(kv, EnvExecutorTokenFD+"=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(append(env, "MEZZO_TASK_ID="+string(task.ID)), ci.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	outName, errName := TaskOutputFiles(task.ID)
	stdout, outDone, err := c.output(filepath.Join(c.Dir, outName))
	if err != nil {
		return nil, nil, err
	}
	stderr, errDone, err := c.output(filepath.Join(c.Dir, errName))
	if err != nil {
		_ = stdout.Close()
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd, []<-chan struct{}{outDone, errDone}, nil
}

// output creates one of a task's output files and returns the write end
// of a pipe for the task (an *os.File, so the process gets it as is and
// Wait does not wait for children that keep it open) and a channel closed
// when the copy into the file has ended. A file that cannot be written
// (the disk is full, the sandbox over its size limit) loses output, not
// the task: the copy goes on reading, so the task never blocks on it.
func (c *Command) output(path string) (*os.File, <-chan struct{}, error) {
	size, files := c.LogMaxSize, c.LogMaxFiles
	if size <= 0 {
		size = DefaultLogMaxSize
	}
	if files <= 0 {
		files = DefaultLogMaxFiles
	}
	out, err := newRotatingFile(path, size, files)
	if err != nil {
		return nil, nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		_ = out.Close()
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer r.Close()
		defer out.Close()
		buf := make([]byte, 64<<10)
		var lost error
		for {
			n, err := r.Read(buf)
			if n > 0 && lost == nil {
				if _, lost = out.Write(buf[:n]); lost != nil {
					slog.Warn("executor: task output lost from here on", "file", path, "err", lost)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return w, done, nil
}

// outputDrain bounds how long a task's end waits for its output to be
// copied: a child it left running in the background may hold the pipe
// open, and its output keeps being copied after the task is reported.
const outputDrain = time.Second

// drainOutputs waits until the output copied so far is in the files, so
// that a task's last lines are there when its end is reported.
func drainOutputs(outputs []<-chan struct{}) {
	deadline := time.NewTimer(outputDrain)
	defer deadline.Stop()
	for _, done := range outputs {
		select {
		case <-done:
		case <-deadline.C:
			return
		}
	}
}

// createOutput creates (or truncates) a task's output file readable by
// its own user only, whatever the umask: the agent serves it to those the
// ACL allows, and nobody else on the host should read it.
func createOutput(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil { // a file left by an earlier run keeps its mode otherwise
		f.Close()
		return nil, err
	}
	return f, nil
}

// closeFiles closes our copies of the output files once the child has its
// own.
func closeFiles(cmd *exec.Cmd) {
	for _, w := range []any{cmd.Stdout, cmd.Stderr} {
		if f, ok := w.(*os.File); ok && f != nil {
			_ = f.Close()
		}
	}
}

func exitStatus(task mezzo.TaskInfo, err error, t *commandTask) mezzo.TaskStatus {
	st := mezzo.TaskStatus{TaskID: task.ID}
	select {
	case <-t.killed:
		st.State, st.Message = mezzo.TaskKilled, "killed"
		return st
	default:
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		st.State, st.Message = mezzo.TaskFinished, "command exited with code 0"
	case errors.As(err, &ee):
		st.State, st.Reason = mezzo.TaskFailed, mezzo.ReasonCommandExited
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			st.Message = fmt.Sprintf("command killed by signal %v", ws.Signal())
		} else {
			st.Message = fmt.Sprintf("command exited with code %d", ee.ExitCode())
			if ee.ExitCode() == 127 && task.Command.Shell {
				st.Message += " (command not found)"
			}
		}
	default:
		st.State, st.Reason, st.Message = mezzo.TaskFailed, mezzo.ReasonCommandExited, "waiting for command: "+err.Error()
	}
	return st
}

func (c *Command) forget(id mezzo.TaskID) {
	c.mu.Lock()
	delete(c.tasks, id)
	c.mu.Unlock()
}

// KillTask sends SIGTERM to the task's process group and SIGKILL after the
// grace period; the task's goroutine reports TASK_KILLED. An unknown task is
// ignored: it has ended and its terminal update is on its way.
func (c *Command) KillTask(d mezzo.ExecutorDriver, id mezzo.TaskID) {
	c.mu.Lock()
	t := c.tasks[id]
	c.mu.Unlock()
	if t == nil {
		return
	}
	c.kill(t)
}

func (c *Command) kill(t *commandTask) {
	t.once.Do(func() {
		close(t.killed)
		if t.cmd == nil {
			return
		}
		pid := t.cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		grace := c.GracePeriod
		if grace <= 0 {
			grace = DefaultGracePeriod
		}
		time.AfterFunc(grace, func() {
			if !t.exited.Load() {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		})
	})
}

// FrameworkMessage is ignored: commands have no channel to receive data.
func (c *Command) FrameworkMessage(mezzo.ExecutorDriver, []byte) {}

// Shutdown kills every task, waits for their terminal updates to be queued,
// and stops the driver.
func (c *Command) Shutdown(d mezzo.ExecutorDriver) {
	c.mu.Lock()
	all := make([]*commandTask, 0, len(c.tasks))
	for _, t := range c.tasks {
		all = append(all, t)
	}
	c.mu.Unlock()
	for _, t := range all {
		c.kill(t)
	}
	c.wg.Wait()
	_ = d.Stop()
}
