package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/agent"
)

func runAgent(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mezzo agent", flag.ContinueOnError)
	masterAddr := fs.String("master", "127.0.0.1:5050", "the master's address")
	resources := fs.String("resources", "", "resources to offer, e.g. 'cpus:4;mem:8192' (default: detected from the machine)")
	attributes := fs.String("attributes", "", "agent attributes, e.g. 'rack:r1;zone:a'")
	workDir := fs.String("work-dir", "", "directory for the agent ID, sandboxes and status updates (required)")
	isolation := fs.String("isolation", "process", "executor isolation: cgroups or process")
	hostname := fs.String("hostname", "", "hostname to report (default: the machine's)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *workDir == "" {
		return fmt.Errorf("--work-dir is required")
	}
	if *isolation != "cgroups" && *isolation != "process" {
		return fmt.Errorf("--isolation %q: want cgroups or process", *isolation)
	}
	res, err := mezzo.ParseResources(*resources)
	if err != nil {
		return fmt.Errorf("--resources: %w", err)
	}
	attrs, err := parseAttributes(*attributes)
	if err != nil {
		return err
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Config{Master: *masterAddr, Hostname: *hostname, Resources: res, Attributes: attrs,
		WorkDir: *workDir, Isolation: *isolation, Logger: log})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// parseAttributes reads "name:value;name:value".
func parseAttributes(text string) ([]mezzo.Attribute, error) {
	var out []mezzo.Attribute
	for i, entry := range strings.Split(text, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, value, ok := strings.Cut(entry, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--attributes %q: entry %d %q is not name:value", text, i+1, entry)
		}
		out = append(out, mezzo.Attribute{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	return out, nil
}
