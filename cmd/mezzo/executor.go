package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/agent"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
	"github.com/mezzo-cluster/mezzo/workloads"
)

// executorKinds is the explicit registry of executors this binary can run
// when an agent starts it as `mezzo executor --kind KIND`.
func executorKinds() map[string]func() mezzo.Executor {
	kinds := workloads.Executors()
	kinds[agent.CommandKind] = func() mezzo.Executor { return executor.NewCommand() }
	return kinds
}

func runExecutor(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mezzo executor", flag.ContinueOnError)
	kind := fs.String("kind", "", "executor kind to run (command, pi, ...)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *kind == "" {
		return fmt.Errorf("--kind is required (executors are started by a mezzo agent)")
	}
	return executor.RunKind(ctx, *kind, executorKinds())
}
