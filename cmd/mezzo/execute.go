package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
)

func runExecute(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mezzo execute", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: mezzo execute [flags] -- COMMAND [ARGS...]\n\nRuns one command as a task and exits with its status. One argument is a\nshell command line; several are a program and its arguments.\n\nflags:")
		fs.PrintDefaults()
	}
	masterAddr := fs.String("master", "127.0.0.1:5050", "the master's address")
	resources := fs.String("resources", "cpus:0.5;mem:64", "resources of the task")
	name := fs.String("name", "mezzo-execute", "framework and task name")
	role := fs.String("role", "", "role of the framework (default *)")
	user := fs.String("user", "", "OS user the task runs as (the ACL's run_tasks must allow it)")
	sec := addSecurityFlags(fs, false)
	logf := addLogFlags(fs, "warn")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("no command given (mezzo execute [flags] -- COMMAND...)")
	}
	if err := checkFlags(fs, hostPorts("master"), nonEmpty("name")); err != nil {
		return err
	}
	if err := sec.check(fs); err != nil {
		return err
	}
	res, err := someResources("resources", *resources)
	if err != nil {
		return err
	}
	log, err := logf.logger()
	if err != nil {
		return err
	}
	cmd := &mezzo.CommandInfo{Value: fs.Arg(0), Args: fs.Args()[1:]}
	if fs.NArg() == 1 {
		cmd = &mezzo.CommandInfo{Value: fs.Arg(0), Shell: true}
	}
	s := newCommandScheduler(os.Stdout, []mezzo.TaskInfo{{ID: mezzo.TaskID(*name), Name: *name, Resources: res, Command: cmd}})
	dopts, err := sec.dialOptions(*masterAddr)
	if err != nil {
		return err
	}
	d, err := driver.New(driver.Config{Master: *masterAddr, Framework: mezzo.FrameworkInfo{Name: *name, Role: *role, User: *user}, Logger: log, DialOptions: dopts, Reconcile: true}, s)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	err = d.Wait()
	if s.failure != "" {
		return errors.New(s.failure)
	}
	if !errors.Is(err, driver.ErrStopped) {
		return err
	}
	final := s.final[mezzo.TaskID(*name)]
	return exitFor(final)
}

// exitError carries the exit status mezzo's main uses.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) ExitCode() int { return e.code }

var exitCodeRE = regexp.MustCompile(`exited with code (\d+)`)

// exitFor maps a task's final state to the command's exit status: 0 for
// FINISHED, the command's own code when it failed with one, else 1.
func exitFor(st mezzo.TaskStatus) error {
	if st.State == mezzo.TaskFinished {
		return nil
	}
	code := 1
	if st.State == mezzo.TaskFailed {
		if m := exitCodeRE.FindStringSubmatch(st.Message); m != nil {
			if c, err := strconv.Atoi(m[1]); err == nil && c > 0 && c < 256 {
				code = c
			}
		}
	}
	return &exitError{code: code, msg: fmt.Sprintf("task %s ended %s: %s", st.TaskID, st.State, st.Message)}
}

// commandScheduler runs a fixed list of tasks, each once, and stops the
// framework when all have ended. It prints every state change.
type commandScheduler struct {
	out     io.Writer
	tasks   []mezzo.TaskInfo // not yet launched
	live    int
	final   map[mezzo.TaskID]mezzo.TaskStatus
	started time.Time
	failure string // an unrecoverable error from the master
}

func newCommandScheduler(out io.Writer, tasks []mezzo.TaskInfo) *commandScheduler {
	return &commandScheduler{out: out, tasks: tasks, final: map[mezzo.TaskID]mezzo.TaskStatus{}}
}

func (s *commandScheduler) Registered(d mezzo.Driver, id mezzo.FrameworkID) {
	if s.started.IsZero() {
		s.started = d.Now()
		fmt.Fprintf(s.out, "framework %s registered\n", id)
	}
}

func (s *commandScheduler) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	for _, o := range offers {
		left := o.Resources
		var launch []mezzo.TaskInfo
		for len(s.tasks) > 0 && left.Contains(s.tasks[0].Resources) {
			t := s.tasks[0]
			s.tasks = s.tasks[1:]
			t.AgentID = o.AgentID
			left = left.Sub(t.Resources)
			launch = append(launch, t)
		}
		if len(launch) == 0 {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{})
			continue
		}
		if err := d.LaunchTasks([]mezzo.OfferID{o.ID}, launch, mezzo.Filters{}); err != nil {
			fmt.Fprintf(s.out, "launch on %s failed: %v\n", o.AgentID, err)
			s.tasks = append(launch, s.tasks...)
			continue
		}
		s.live += len(launch)
		for _, t := range launch {
			fmt.Fprintf(s.out, "task %s: launched on agent %s (%s)\n", t.ID, o.AgentID, o.Hostname)
		}
	}
	if len(s.tasks) == 0 {
		_ = d.SuppressOffers()
	}
}

func (s *commandScheduler) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

func (s *commandScheduler) StatusUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	if _, done := s.final[st.TaskID]; done {
		return // a resend
	}
	line := fmt.Sprintf("task %s: %s", st.TaskID, st.State)
	if st.Message != "" {
		line += " (" + st.Message + ")"
	}
	fmt.Fprintln(s.out, line)
	if !st.State.Terminal() {
		return
	}
	s.final[st.TaskID] = st
	s.live--
	if s.live <= 0 && len(s.tasks) == 0 {
		_ = d.Stop(false)
	}
}

func (s *commandScheduler) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}

func (s *commandScheduler) AgentLost(_ mezzo.Driver, id mezzo.AgentID) {
	fmt.Fprintf(s.out, "agent %s lost\n", id)
}

func (s *commandScheduler) Error(_ mezzo.Driver, msg string) {
	s.failure = "master: " + msg
}
