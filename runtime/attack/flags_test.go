package attack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Item 13: configuration that makes no sense is refused at start-up by
// the real binary, with a message naming the flag, instead of being taken
// in silence (a machine's worth of resources for cpus:0, a rate limit
// turned off by NaN, a zero interval that became the default).
func TestNonsenseFlagsAreRefusedAtStartup(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "agent")
	master := []string{"master", "--listen", "127.0.0.1:0"}
	agent := []string{"agent", "--master", "127.0.0.1:1", "--work-dir", work, "--isolation", "process"}
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{append(agent, "--resources", "cpus:0"), "--resources"},
		{append(agent, "--resources", ";;;"), "--resources"},
		{append(agent, "--resources", "cpus:4;cpus:2"), "--resources"},
		{append(agent, "--resources", "CPUS:2"), "--resources"},
		{append(agent, "--executor-recovery-timeout", "0s"), "--executor-recovery-timeout"},
		{append(agent, "--cgroup-parent", "../../escape"), "--cgroup-parent"},
		{append(agent, "--task-users", "shared"), "--task-users"},
		{append(agent, "--container-uid-range", "5-1"), "--container-uid-range"},
		{append(agent, "--container-pids-max", "0"), "--container-pids-max"},
		{append(agent, "--container-disk-default", "-1GB"), "--container-disk-default"},
		{append(agent, "--container-log-max-size", "ten"), "--container-log-max-size"},
		{append(agent, "--gc-disk-headroom", "NaN"), "--gc-disk-headroom"},
		{append(agent, "--gc-delay", "0s"), "--gc-delay"},
		{append(master, "--rate-limit", "NaN"), "--rate-limit"},
		{append(master, "--rate-limit", "-5"), "--rate-limit"},
		{append(master, "--agent-rate-limit", "+Inf"), "--agent-rate-limit"},
		{append(master, "--allocation-interval", "0"), "--allocation-interval"},
		{append(master, "--ping-interval", "0"), "--ping-interval"},
		{append(master, "--lease-ttl", "0"), "--lease-ttl"},
		{append(master, "--failover-timeout", "-1s"), "--failover-timeout"},
		{append(master, "--policy", ""), "--policy"},
		{append(master, "--offer-timeout", "-1s"), "--offer-timeout"},
		{append(master, "--max-connections", "0"), "--max-connections"},
		{append(master, "--auth-failure-rate", "NaN"), "--auth-failure-rate"},
		{append(master, "--listen", "127.0.0.1:70000"), "--listen"},
		{append(master, "--tls-cert", filepath.Join(dir, "no-such.crt"), "--tls-key", filepath.Join(dir, "no-such.key"), "--tls-ca", filepath.Join(dir, "no-such-ca.crt")), "--tls-cert"},
		{[]string{"execute", "--master", "127.0.0.1:1", "--resources", "mem:64;MEM:64", "--", "true"}, "--resources"},
		{[]string{"sim", "--agents", "0"}, "--agents"},
		{[]string{"bench", "launch", "--allocation-interval", "0"}, "--allocation-interval"},
		{[]string{"tasks", "--state", "nonsense"}, "--state"},
		{[]string{"drain", "some-agent", "--deadline", "-1h"}, "--deadline"},
		{[]string{"certs", "init", "--principals", "master", filepath.Join(dir, "certs")}, "--principals"},
	} {
		out, code := runMezzo(t, 20*time.Second, tc.args...)
		if code == 0 || !strings.Contains(out, tc.flag) {
			t.Errorf("mezzo %s: exit %d, output %q; want a refusal naming %s", strings.Join(tc.args, " "), code, out, tc.flag)
		}
	}
	if _, err := os.Stat(work); err == nil {
		t.Error("an agent refused for its flags created its work dir")
	}
}

// A credentials file with a secret anyone could guess is refused at start,
// naming the principal and never the secret.
func TestShortSecretIsRefusedAtStartup(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(creds, []byte(`{"credentials": [{"principal": "tenant-b", "secret": "q"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runMezzo(t, 20*time.Second, "master", "--listen", "127.0.0.1:0", "--credentials", creds)
	if code == 0 || !strings.Contains(out, "tenant-b") || strings.Contains(out, `"q"`) {
		t.Errorf("a one-character secret: exit %d, output %q; want a refusal naming the principal, not the secret", code, out)
	}
}
