package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/agent"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/runtime/isolation"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/workloads"
)

// runDemo starts a master and three agents in this process, on loopback,
// runs the π framework and a batch of shell commands side by side, and
// reports what each framework got.
func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mezzo demo", flag.ContinueOnError)
	piTasks := fs.Int("pi-tasks", 12, "sampling tasks of the π framework")
	samples := fs.Int64("samples", 2_000_000, "samples per π task")
	sleeps := fs.Int("commands", 6, "'sleep 1' tasks of the second framework")
	policy := fs.String("policy", "drf", "allocation policy")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	verbose := fs.Bool("v", false, "show the master's and agents' logs")
	isoFlag := fs.String("isolation", "auto", "cgroups, process, or auto (cgroups when root and available)")
	compare := fs.String("policies", "drf,fair-cpu,random", "policies to compare on the allocator alone first (empty: skip)")
	uiAddr := fs.String("ui", "", "serve the web UI and metrics on this address (e.g. 127.0.0.1:5051) and keep the cluster up after the frameworks end, until interrupted")
	logFormat := fs.String("log-format", "text", "log format with -v: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(fs,
		positive("pi-tasks"), positive("samples"), nonNegative("commands"), knownPolicy("policy"),
		positive("timeout"), oneOf("isolation", "auto", "cgroups", "process"), knownPolicyList("policies", true),
		optionalHostPort("ui"), oneOf("log-format", "text", "json"),
	); err != nil {
		return err
	}
	if *compare != "" {
		if err := demoPolicies(os.Stdout, strings.Split(*compare, ",")); err != nil {
			return err
		}
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	if *uiAddr != "" { // the cluster outlives the frameworks for the UI
		cancel()
		ctx, cancel = context.WithCancel(parent)
	}
	defer cancel()
	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	log, err := buildLogger(os.Stderr, *logFormat, level.String())
	if err != nil {
		return err
	}
	slog.SetDefault(log) // packages that log to the default logger stay quiet too
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	dir, err := os.MkdirTemp("", "mezzo-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	m, err := master.New(master.Config{Listen: "127.0.0.1:0", Policy: *policy, AllocationInterval: 200 * time.Millisecond, Logger: log})
	if err != nil {
		return err
	}
	addr, err := m.Start(ctx)
	if err != nil {
		return err
	}
	defer m.Stop()

	iso := *isoFlag
	switch iso {
	case "auto":
		iso = demoIsolation()
	case "cgroups", "process":
	default:
		return fmt.Errorf("--isolation %q: want cgroups, process or auto", iso)
	}
	fmt.Printf("master on %s (policy %s); 3 agents with cpus:2;mem:1024 each, isolation: %s\n", addr, *policy, iso)
	if *uiAddr != "" {
		httpAddr, err := m.StartHTTP(*uiAddr)
		if err != nil {
			return err
		}
		fmt.Printf("web UI: http://%s/  (metrics: /metrics, state: /state)\n", httpAddr)
	}
	agentCtx, stopAgents := context.WithCancel(ctx)
	var agents sync.WaitGroup
	defer func() { stopAgents(); agents.Wait() }()
	for i := 1; i <= 3; i++ {
		var attrs []mezzo.Attribute
		var lis net.Listener
		if *uiAddr != "" { // agents serve their sandboxes to the UI
			if lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return err
			}
			attrs = []mezzo.Attribute{{Name: master.AgentHTTPAttribute, Value: lis.Addr().String()}}
		}
		a, err := agent.New(agent.Config{Master: addr, Hostname: fmt.Sprintf("demo-%d", i), Resources: mezzo.MustParseResources("cpus:2;mem:1024"), Attributes: attrs,
			WorkDir: filepath.Join(dir, fmt.Sprintf("agent-%d", i)), Isolation: iso, CgroupParent: "mezzo-demo", ReconnectDelay: 100 * time.Millisecond, Logger: log})
		if err != nil {
			return err
		}
		if lis != nil {
			srv := a.HTTPServer(0)
			go func() { _ = srv.Serve(lis) }()
			defer srv.Close()
		}
		agents.Add(1)
		go func() { defer agents.Done(); _ = a.Run(agentCtx) }()
	}

	piFw, err := workloads.Schedulers()["pi"].New(workloads.Options{Seed: 1}, []string{
		"--tasks", fmt.Sprint(*piTasks), "--samples", fmt.Sprint(*samples), "--task-cpus", "1", "--task-mem", "64"})
	if err != nil {
		return err
	}
	var cmdTasks []mezzo.TaskInfo
	for i := 0; i < *sleeps; i++ {
		cmdTasks = append(cmdTasks, mezzo.TaskInfo{ID: mezzo.TaskID(fmt.Sprintf("sleep-%d", i)), Resources: mezzo.MustParseResources("cpus:0.5;mem:32"),
			Command: &mezzo.CommandInfo{Value: "sleep 1", Shell: true}})
	}
	cmds := newCommandScheduler(io.Discard, cmdTasks)

	start := time.Now()
	errs := make(chan error, 2)
	for _, f := range []struct {
		info  mezzo.FrameworkInfo
		sched mezzo.Scheduler
	}{{piFw.Info, piFw.Scheduler}, {mezzo.FrameworkInfo{Name: "commands"}, cmds}} {
		d, err := driver.New(driver.Config{Master: addr, Framework: f.info, Logger: quiet}, f.sched)
		if err != nil {
			return err
		}
		if err := d.Start(ctx); err != nil {
			return err
		}
		go func() {
			err := d.Wait()
			if errors.Is(err, driver.ErrStopped) {
				err = nil
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			return fmt.Errorf("a framework failed: %w", err)
		}
	}
	elapsed := time.Since(start)

	fmt.Println(piFw.Summary())
	snap, err := m.Snapshot(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("\nwhat each framework got (%.1fs):\n", elapsed.Seconds())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "framework\ttasks\tfinished\tfailed\toffers\tcpu·s\t")
	for _, f := range snap.Frameworks {
		failed := f.Stats.TaskErrors
		for _, st := range []string{"TASK_FAILED", "TASK_LOST", "TASK_KILLED"} {
			failed += f.Stats.TasksByState[st]
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f\t\n", f.Name, f.Stats.TasksLaunched, f.Stats.TasksByState["TASK_FINISHED"], failed, f.Stats.OffersReceived, f.Stats.CPUSeconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if snap.Check != "" || !snap.Totals.Used.IsEmpty() {
		return fmt.Errorf("resources not all back at the end: used %s, check %q", snap.Totals.Used, snap.Check)
	}
	if *uiAddr != "" {
		fmt.Println("\nthe cluster stays up for the web UI; interrupt (Ctrl-C) to stop")
		<-parent.Done()
	}
	return nil
}

// demoIsolation uses cgroups when running as root on a host where they
// work, plain processes otherwise.
func demoIsolation() string {
	if os.Geteuid() != 0 {
		return "process"
	}
	iso, err := isolation.New("cgroups", isolation.Options{Parent: "mezzo-demo"})
	if err != nil {
		return "process"
	}
	_, _, _ = iso.Recover(nil)
	return "cgroups"
}
