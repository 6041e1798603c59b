package executor

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/mezzo-cluster/mezzo"
)

// RunKind is the body of an executor process: it builds the executor
// registered under kind in registry (the command executor is usually
// registered as "command": func() mezzo.Executor { return NewCommand() }),
// reads its Config from the environment the agent set, and runs it. The
// registry is explicit so that the binary decides which kinds exist.
func RunKind(ctx context.Context, kind string, registry map[string]func() mezzo.Executor) error {
	mk := registry[kind]
	if mk == nil {
		kinds := make([]string, 0, len(registry))
		for k := range registry {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		return fmt.Errorf("executor: unknown kind %q (known: %s)", kind, strings.Join(kinds, ", "))
	}
	cfg, err := ConfigFromEnv()
	if err != nil {
		return err
	}
	exec := mk()
	if c, ok := exec.(*Command); ok {
		if c.Dir == "" {
			c.Dir = cfg.Sandbox
		}
		if c.LogMaxSize == 0 {
			c.LogMaxSize = cfg.LogMaxSize
		}
		if c.LogMaxFiles == 0 {
			c.LogMaxFiles = cfg.LogMaxFiles
		}
	}
	return Run(ctx, cfg, exec)
}
