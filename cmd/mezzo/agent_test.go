package main

import (
	"context"
	"strings"
	"testing"

	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Task-user flags that make no sense are refused before the agent starts,
// naming the flag.
func TestAgentRefusesBadTaskUserFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--task-users", "shared"}, []string{"--task-users", `"shared"`, "isolated", "host"}},
		{[]string{"--container-uid-range", "1000-2000"}, []string{`--container-uid-range "1000-2000"`, "below 65536"}},
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

// --hostname takes what the master takes in a registration and refuses
// what it refuses, so that an agent neither starts with a name it can
// never register with nor is refused one the master would take.
func TestAgentHostnameRuleIsTheMasters(t *testing.T) {
	for _, h := range []string{"", "h.example.com", "a b", "rack/1", "ünïcode", strings.Repeat("h", 255), strings.Repeat("h", 256), "a\x01b", "tab\there", "\xff"} {
		mine, masters := checkAgentHostname(h), api.ValidateAgentInfo(&api.AgentInfo{Hostname: h})
		if (mine == nil) != (masters == nil) {
			t.Errorf("--hostname %q: the flag rule says %v, the master %v", h, mine, masters)
		}
	}
}
