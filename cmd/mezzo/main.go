// Command mezzo is the one binary of mezzo: the master, the agent, the
// simulator, the experiments and the benchmarks. It stays thin: each
// subcommand parses its flags and calls into the packages that do the work.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
	hidden  bool
}

// commands is the explicit table of subcommands.
func commands() map[string]command {
	return map[string]command{
		"master":     {summary: "run a master", run: runMaster},
		"agent":      {summary: "run an agent", run: runAgent},
		"execute":    {summary: "run one command as a task and stream its state", run: runExecute},
		"run":        {summary: "run a framework from workloads/ against a master", run: runFramework},
		"demo":       {summary: "start a master and three agents in-process and run the pi framework", run: runDemo},
		"sim":        {summary: "replay a workload in the virtual-time simulator", run: runSim},
		"sweep":      {summary: "run the cross product of policies, sizes, seeds, traces; one CSV row per run, resumable", run: runSweep},
		"experiment": {summary: "reproduce one of the paper's experiments", run: runExperiment},
		"bench":      {summary: "benchmarks (allocator, launch throughput)", run: runBench},
		"certs":      {summary: "certs init DIR: a CA and certificates for a test cluster", run: runCerts},
		"status":     {summary: "cluster summary from a master's HTTP server (--master-http)", run: runStatus},
		"agents":     {summary: "list agents (table, or --json)", run: runAgents},
		"frameworks": {summary: "list frameworks (table, or --json)", run: runFrameworks},
		"tasks":      {summary: "list tasks, filtered by --framework, --agent, --state", run: runTasks},
		"kill":       {summary: "kill TASK: kill a task (--wait to see it end)", run: runKill},
		"logs":       {summary: "logs TASK: a task's stdout (--stderr) from its sandbox, --follow", run: runLogs},
		"drain":      {summary: "drain AGENT: no new offers there; its frameworks are asked to move their tasks", run: runDrain},
		"undrain":    {summary: "undrain AGENT: end a drain, offers resume", run: runUndrain},
		"executor":   {summary: "run an executor process (started by agents)", run: runExecutor, hidden: true},
		"etcd-dev":   {summary: "etcd-dev DIR: an embedded etcd for experiments (the failover experiment's child process)", run: runEtcdDev, hidden: true},
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mezzo COMMAND [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n, c := range cmds {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nrun 'mezzo COMMAND -h' for a command's flags")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands()[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "mezzo: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "mezzo %s: %v\n", os.Args[1], err)
		if ec, ok := err.(interface{ ExitCode() int }); ok {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}
