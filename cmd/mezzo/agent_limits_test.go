package main

import (
	"context"
	"strings"
	"testing"
)

// Limit and garbage collection flags that make no sense are refused at
// start-up, naming the flag, before the agent touches anything.
func TestAgentRefusesBadLimitFlags(t *testing.T) {
	for _, c := range []struct{ flag, value string }{
		{"--container-pids-max", "0"},
		{"--container-pids-max", "-5"},
		{"--container-disk-watch-interval", "0s"},
		{"--container-log-max-size", "0"},
		{"--container-log-max-size", "ten megabytes"},
		{"--container-log-max-size", "1.5MB"},
		{"--container-log-max-files", "0"},
		{"--container-log-max-files", "-2"},
		{"--container-disk-default", "-1GB"},
		{"--container-disk-default", "lots"},
		{"--gc-delay", "-1h"},
		{"--gc-disk-headroom", "0"},
		{"--gc-disk-headroom", "1"},
		{"--gc-disk-headroom", "NaN"},
		{"--disk-watch-interval", "0s"},
		{"--disk-watch-interval", "-1m"},
		{"--task-users", ""},
		{"--task-users", "Host"},
	} {
		err := runAgent(context.Background(), []string{"--work-dir", t.TempDir(), c.flag, c.value})
		if err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%s %s: %v, want an error naming the flag", c.flag, c.value, err)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "10MB": 10 << 20, "10mb": 10 << 20, "512 KB": 512 << 10, "2GB": 2 << 30, "7B": 7} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "1.5MB", "-3", "9999999999999TB"} {
		if _, err := parseByteSize(bad); err == nil {
			t.Errorf("parseByteSize(%q): no error", bad)
		}
	}
}
