package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mezzo-cluster/mezzo/runtime/bench"
)

// defaultGate is the metrics `mezzo bench compare` gates on by default:
// offer latency p50/p99, launch latency p99, tasks/s and the master's
// busy time per task of the offer benchmarks; the allocator's and
// engine's time per operation.
const defaultGate = "offer-p50-ms,offer-p99-ms,launch-p99-ms,tasks/s,master-ms/task,ns/op,allocs/op"

// runBenchCompare is `mezzo bench compare [--metrics U,...] [--threshold F] OLD NEW`:
// it exits non-zero when a gated metric got worse beyond its allowance
// (bench.Compare).
func runBenchCompare(args []string) error {
	fs := flag.NewFlagSet("bench compare", flag.ContinueOnError)
	metrics := fs.String("metrics", defaultGate, "comma-separated units to gate on")
	threshold := fs.Float64("threshold", 0.2, "smallest relative worsening that fails (raised to the runs' own spread)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: mezzo bench compare [--metrics U,...] [--threshold F] OLD NEW")
	}
	if err := checkFlags(fs, nonNegative("threshold"), custom("metrics", checkNames)); err != nil {
		return err
	}
	old, err := bench.ReadBenchFile(fs.Arg(0))
	if err != nil {
		return err
	}
	nw, err := bench.ReadBenchFile(fs.Arg(1))
	if err != nil {
		return err
	}
	if len(old) == 0 || len(nw) == 0 {
		return fmt.Errorf("no benchmark results in %s or %s", fs.Arg(0), fs.Arg(1))
	}
	regs := bench.Compare(old, nw, strings.Split(*metrics, ","), *threshold)
	for _, r := range regs {
		fmt.Fprintln(os.Stderr, "REGRESSION", r)
	}
	if len(regs) > 0 {
		return fmt.Errorf("%d metric(s) got worse beyond their allowance", len(regs))
	}
	fmt.Fprintf(os.Stderr, "no gated metric (%s) worse by more than %.0f%% or its runs' spread\n", *metrics, 100**threshold)
	return nil
}
