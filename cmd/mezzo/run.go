package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/workloads"
)

func runUsage() {
	fmt.Fprintln(os.Stderr, `usage: mezzo run FRAMEWORK --master ADDR [--seed N] [--log-level L] [framework flags]

Runs a framework from workloads/ against a real master until it has no more
work. Flags other than --master, --seed, --log-level and --log-format go to the framework
(see 'mezzo run FRAMEWORK -h').

frameworks:`)
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

// runFramework takes its own flags out of args by hand, because the rest
// belong to the framework's flag set, which reports its own errors.
func runFramework(ctx context.Context, args []string) error {
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help"):
		runUsage()
		return nil
	case len(args) == 0 || strings.HasPrefix(args[0], "-"):
		runUsage()
		return errors.New("name a framework first")
	}
	name, rest := args[0], args[1:]
	fact, ok := workloads.Schedulers()[name]
	if !ok {
		runUsage()
		return fmt.Errorf("unknown framework %q", name)
	}
	own := map[string]string{"master": "127.0.0.1:5050", "seed": "1", "log-level": "warn", "log-format": "text"}
	var fwArgs []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		key := strings.TrimLeft(a, "-")
		val, hasVal := "", false
		if k, v, ok := strings.Cut(key, "="); ok {
			key, val, hasVal = k, v, true
		}
		if _, mine := own[key]; !mine || !strings.HasPrefix(a, "-") {
			fwArgs = append(fwArgs, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(rest) {
				return fmt.Errorf("flag --%s needs a value", key)
			}
			i++
			val = rest[i]
		}
		own[key] = val
	}
	seed, err := strconv.ParseUint(own["seed"], 10, 64)
	if err != nil {
		return fmt.Errorf("--seed %q is not a whole number", own["seed"])
	}
	log, err := buildLogger(os.Stderr, own["log-format"], own["log-level"])
	if err != nil {
		return err
	}
	fw, err := fact.New(workloads.Options{Seed: seed}, fwArgs)
	if err != nil {
		return err
	}
	d, err := driver.New(driver.Config{Master: own["master"], Framework: fw.Info, Seed: seed, Logger: log}, fw.Scheduler)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("running %s against %s\n", name, own["master"])
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
