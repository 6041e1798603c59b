package main

import (
	"context"
	"strings"
	"testing"
)

// Task-user flags that make no sense are refused before the agent starts,
// naming the flag.
func TestAgentRefusesBadTaskUserFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--task-users", "shared"}, []string{"--task-users", `"shared"`, "isolated", "host"}},
		{[]string{"--container-uid-range", "1000-2000"}, []string{"--container-uid-range 1000-2000", "below 65536"}},
		{[]string{"--container-uid-range", "2000000000"}, []string{"--container-uid-range", "FIRST-LAST"}},
		{[]string{"--container-uid-range", "3000000000-3000000010"}, []string{"--container-uid-range", "2^31"}},
	} {
		args := append([]string{"--master", "127.0.0.1:1", "--resources", "cpus:1;mem:64", "--work-dir", t.TempDir()}, c.args...)
		err := runAgent(context.Background(), args)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("mezzo agent %v: %v, want an error with %q", c.args, err, w)
			}
		}
	}
}
