package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/workloads"
)

// runOptions are mezzo run's own flags; the rest of the command line goes
// to the framework's flag set. user, role and failoverTimeout override
// what the framework asks for itself, as an operator deploying it would.
type runOptions struct {
	master          string
	seed            uint64
	user, role      string
	failoverTimeout time.Duration
	log             logFlags
	sec             *securityFlags
}

func runFlags() (*flag.FlagSet, *runOptions) {
	fs := flag.NewFlagSet("mezzo run", flag.ContinueOnError)
	o := &runOptions{}
	fs.StringVar(&o.master, "master", "127.0.0.1:5050", "the master's address, or several comma-separated (standbys redirect to the leader)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the framework's random choices")
	fs.StringVar(&o.user, "user", "", "OS user the framework's tasks run as (the ACL's run_tasks must allow it; default: the framework's own choice)")
	fs.StringVar(&o.role, "role", "", "role the framework registers in (default: the framework's own choice, else *)")
	fs.DurationVar(&o.failoverTimeout, "failover-timeout", 0, "how long the master keeps the framework's tasks after it disconnects (default: the framework's own choice, else the master's)")
	o.log = addLogFlags(fs, "warn")
	o.sec = addSecurityFlags(fs, false)
	return fs, o
}

// frameworkInfo applies the operator's overrides to what the framework asks.
func (o *runOptions) frameworkInfo(info mezzo.FrameworkInfo) (mezzo.FrameworkInfo, error) {
	if o.failoverTimeout < 0 {
		return info, fmt.Errorf("--failover-timeout %v is negative", o.failoverTimeout)
	}
	if o.user != "" {
		info.User = o.user
	}
	if o.role != "" {
		info.Role = o.role
	}
	if o.failoverTimeout > 0 {
		info.FailoverTimeout = o.failoverTimeout
	}
	return info, nil
}

func runUsage() {
	fmt.Fprintln(os.Stderr, `usage: mezzo run FRAMEWORK [flags] [framework flags]

Runs a framework from workloads/ against a real master until it has no more
work. The flags below are mezzo run's; any other flag goes to the framework
(see 'mezzo run FRAMEWORK -h').

flags:`)
	fs, _ := runFlags()
	fs.SetOutput(os.Stderr)
	fs.PrintDefaults()
	fmt.Fprintln(os.Stderr, "\nframeworks:")
	facts := workloads.Schedulers()
	names := make([]string, 0, len(facts))
	for n := range facts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, facts[n].Summary)
	}
}

// splitRunArgs separates mezzo run's own flags (those fs defines, in any
// of the forms -f v, --f v, -f=v, --f=v, and bare boolean flags) from the
// framework's arguments, keeping each side's order.
func splitRunArgs(fs *flag.FlagSet, args []string) (own, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			rest = append(rest, a)
			continue
		}
		key, _, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(key)
		if f == nil {
			rest = append(rest, a)
			continue
		}
		own = append(own, a)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); hasVal || ok && b.IsBoolFlag() {
			continue
		}
		if i+1 >= len(args) {
			return nil, nil, fmt.Errorf("flag --%s needs a value", key)
		}
		i++
		own = append(own, args[i])
	}
	return own, rest, nil
}

// runFramework parses its own flags out of args with runFlags' flag set;
// the rest belong to the framework's flag set, which reports its own
// errors.
func runFramework(ctx context.Context, args []string) error {
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help"):
		runUsage()
		return nil
	case len(args) == 0 || strings.HasPrefix(args[0], "-"):
		runUsage()
		return errors.New("name a framework first")
	}
	name := args[0]
	fact, ok := workloads.Schedulers()[name]
	if !ok {
		runUsage()
		return fmt.Errorf("unknown framework %q", name)
	}
	fs, o := runFlags()
	own, fwArgs, err := splitRunArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if err := parseFlags(fs, own); err != nil {
		return err
	}
	if err := checkFlags(fs, hostPorts("master"), nonNegative("failover-timeout")); err != nil {
		return err
	}
	if err := o.sec.check(fs); err != nil {
		return err
	}
	log, err := o.log.logger()
	if err != nil {
		return err
	}
	dopts, err := o.sec.dialOptions(o.master)
	if err != nil {
		return err
	}
	fw, err := fact.New(workloads.Options{Seed: o.seed}, fwArgs)
	if err != nil {
		return err
	}
	info, err := o.frameworkInfo(fw.Info)
	if err != nil {
		return err
	}
	d, err := driver.New(driver.Config{Master: o.master, Framework: info, Seed: o.seed, Logger: log, DialOptions: dopts, Reconcile: true}, fw.Scheduler)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("running %s against %s\n", name, o.master)
	err = d.Wait()
	if fw.Summary != nil {
		fmt.Println(fw.Summary())
	}
	if errors.Is(err, driver.ErrStopped) || err == nil {
		if fw.Done != nil && !fw.Done() {
			return fmt.Errorf("%s stopped before finishing its work", name)
		}
		return nil
	}
	return err
}
