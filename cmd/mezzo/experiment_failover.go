package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo/reports"
	"github.com/mezzo-cluster/mezzo/runtime/failover"
)

// runFailoverExperiment is `mezzo experiment failover`: the Mesos paper's
// master failover figure against the real runtime (two masters on an
// embedded etcd, emulated agents; runtime/failover). It writes
// failover.csv, failover.json, failover.png and failover.svg in --out
// and, with --json, prints the summary.
func runFailoverExperiment(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("experiment failover", flag.ContinueOnError)
	agentsFlag := fs.String("agents", "500,1000,2000,4000", "comma-separated cluster sizes")
	out := fs.String("out", "reports/figures", "directory for failover.csv, .json, .png, .svg")
	asJSON := fs.Bool("json", false, `print {"experiment":"failover","rows":[...]} on stdout`)
	lease := fs.Duration("lease-ttl", time.Second, "the masters' election lease (whole seconds, at least 1 s)")
	perAgent := fs.Int("tasks-per-agent", 2, "long tasks filling each agent")
	timeout := fs.Duration("timeout", 2*time.Minute, "bound on each phase (fill, recovery)")
	inProcess := fs.Bool("etcd-in-process", false, "run etcd inside the experiment's process (as the tests do) rather than as a child process")
	prof := profileFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("experiment failover: unexpected argument %q", fs.Arg(0))
	}
	if err := checkFlags(fs, nonEmpty("out"), wholeSeconds("lease-ttl"), nonNegative("tasks-per-agent"), positive("timeout")); err != nil {
		return err
	}
	var sizes []int
	for _, s := range strings.Split(*agentsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("experiment failover: --agents: %q is not a positive number", s)
		}
		sizes = append(sizes, n)
	}
	stopProfile, err := prof.start()
	if err != nil {
		return err
	}
	cfg := failover.Config{LeaseTTL: *lease, TasksPerAgent: *perAgent, Timeout: *timeout}
	if !*inProcess {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("experiment failover: finding this binary to run etcd-dev: %w (or use --etcd-in-process)", err)
		}
		cfg.Etcd = failover.EtcdProcess(self, "etcd-dev")
	}
	progress := func(r failover.Row) {
		fmt.Fprintf(os.Stderr, "failover: %d agents: recovered in %.2f s (from the crash: lease gone %.2f s, elected %.2f s, agents back %.2f s, frameworks back %.2f s, allocating %.2f s; confirmed by a poll at %.2f s; lost tasks %d)\n",
			r.Agents, r.RecoverySec, r.LeaseSec, r.DetectSec, r.AgentsSec, r.FrameworksSec, r.AllocateSec, r.ConfirmedSec, r.LostTasks)
	}
	rows, err := failover.Run(ctx, cfg, sizes, progress)
	if perr := stopProfile(); perr != nil && err == nil {
		err = perr
	}
	if len(rows) > 0 {
		if werr := writeFailover(*out, rows); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return failover.WriteJSON(os.Stdout, rows)
	}
	return nil
}

func writeFailover(dir string, rows []failover.Row) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var csv, js bytes.Buffer
	if err := failover.WriteCSV(&csv, rows); err != nil {
		return err
	}
	if err := failover.WriteJSON(&js, rows); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "failover.csv"), csv.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "failover.json"), js.Bytes(), 0o644); err != nil {
		return err
	}
	total := reports.Series{Name: "recovery (crash → all back, allocating)"}
	detect := reports.Series{Name: "detection (crash → standby elected)", Dashed: true}
	for _, r := range rows {
		x := float64(r.Agents)
		total.X, total.Y = append(total.X, x), append(total.Y, r.RecoverySec)
		detect.X, detect.Y = append(detect.X, x), append(detect.Y, r.DetectSec)
	}
	return reports.Figure{Panels: []reports.Panel{{
		Title: "Master failover (real runtime, emulated agents)", XLabel: "agents", YLabel: "time (s)",
		Lines: []reports.Series{total, detect},
	}}}.Save(filepath.Join(dir, "failover"))
}

// runEtcdDev is the hidden `mezzo etcd-dev DIR`: an embedded, single-member
// etcd (no fsync; for experiments, not production) serving until its
// standard input closes. The failover experiment runs it as a child process
// (failover.EtcdProcess) so that etcd does not share a Go runtime with the
// thousands of agents it emulates.
func runEtcdDev(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: mezzo etcd-dev DIR")
	}
	errc := make(chan error, 1)
	go func() { errc <- failover.ServeEtcd(args[0], os.Stdin, os.Stdout) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return nil
	}
}
