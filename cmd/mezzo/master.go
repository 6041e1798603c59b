package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

func runMaster(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mezzo master", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5050", "address to serve schedulers and agents on")
	policy := fs.String("policy", "drf", "allocation policy: "+strings.Join(alloc.DefaultRegistry().Names(), ", "))
	seed := fs.Uint64("seed", 1, "seed of policies that draw at random")
	ping := fs.Duration("ping-interval", time.Second, "how often agents are pinged")
	pingTimeout := fs.Duration("ping-timeout", 0, "silence after which an agent is removed (default 5 × ping interval)")
	allocEvery := fs.Duration("allocation-interval", time.Second, "period of full allocation cycles (freed resources are offered at once)")
	offerTimeout := fs.Duration("offer-timeout", 0, "rescind offers unanswered this long (0: never)")
	failover := fs.Duration("failover-timeout", time.Minute, "how long a disconnected framework keeps its tasks, unless it names its own")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	m, err := master.New(master.Config{
		Listen: *listen, Policy: *policy, PolicyOptions: alloc.PolicyOptions{Seed: *seed},
		PingInterval: *ping, PingTimeout: *pingTimeout, AllocationInterval: *allocEvery,
		OfferTimeout: *offerTimeout, FailoverTimeout: *failover, Logger: log,
	})
	if err != nil {
		return err
	}
	return m.Serve(ctx)
}

// parseFlags parses a subcommand's flags; -h prints the help and ends the
// command successfully.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		return fmt.Errorf("%w (see %s -h)", err, fs.Name())
	}
	return nil
}

// newLogger makes a text logger on stderr at the named level.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
