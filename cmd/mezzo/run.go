package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/workloads"
)

// runFlags are mezzo run's own flags; the rest of the command line goes
// to the framework's flag set.
func runFlags() (*flag.FlagSet, *string, *uint64, logFlags, *securityFlags) {
	fs := flag.NewFlagSet("mezzo run", flag.ContinueOnError)
	masterAddr := fs.String("master", "127.0.0.1:5050", "the master's address, or several comma-separated (standbys redirect to the leader)")
	seed := fs.Uint64("seed", 1, "seed of the framework's random choices")
	logf := addLogFlags(fs, "warn")
	sec := addSecurityFlags(fs, false)
	return fs, masterAddr, seed, logf, sec
}

func runUsage() {
	fmt.Fprintln(os.Stderr, `usage: mezzo run FRAMEWORK [flags] [framework flags]

Runs a framework from workloads/ against a real master until it has no more
work. The flags below are mezzo run's; any other flag goes to the framework
(see 'mezzo run FRAMEWORK -h').

flags:`)
	fs, _, _, _, _ := runFlags()
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
	fs, masterAddr, seed, logf, sec := runFlags()
	own, fwArgs, err := splitRunArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if err := parseFlags(fs, own); err != nil {
		return err
	}
	log, err := logf.logger()
	if err != nil {
		return err
	}
	dopts, err := sec.dialOptions(*masterAddr)
	if err != nil {
		return err
	}
	fw, err := fact.New(workloads.Options{Seed: *seed}, fwArgs)
	if err != nil {
		return err
	}
	d, err := driver.New(driver.Config{Master: *masterAddr, Framework: fw.Info, Seed: *seed, Logger: log, DialOptions: dopts}, fw.Scheduler)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("running %s against %s\n", name, *masterAddr)
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
