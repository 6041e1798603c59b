package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// Every command refuses a flag value that makes no sense before it does
// anything, with a message naming the flag: each case below is a value
// that used to be taken in silence (a zero that became a default, a NaN
// that turned a limit off, a resources text read loosely) or that failed
// later without saying which flag was wrong.
func TestNonsenseFlagsAreRefusedNamingTheFlag(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	shortSecret := filepath.Join(dir, "creds.json")
	if err := os.WriteFile(shortSecret, []byte(`{"credentials":[{"principal":"ops","secret":"x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	certs := filepath.Join(dir, "certs")
	if _, err := security.InitDir(certs, security.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	pair := func(name string) []string {
		return []string{"--tls-cert", filepath.Join(certs, name+".crt"), "--tls-key", filepath.Join(certs, name+".key"), "--tls-ca", filepath.Join(certs, "ca.crt")}
	}
	work := filepath.Join(dir, "work")
	out := filepath.Join(dir, "out.csv")
	master := []string{"master", "--listen", "127.0.0.1:0"}
	agent := []string{"agent", "--master", "127.0.0.1:1", "--work-dir", work}
	cases := []struct {
		args []string
		want string // in the error: the flag, and sometimes more
	}{
		{append(master, "--listen", "nowhere"), "--listen"},
		{append(master, "--listen", "127.0.0.1:99999"), "--listen"},
		{append(master, "--policy", ""), `--policy ""`},
		{append(master, "--policy", "fastest"), "drf"},
		{append(master, "--ping-interval", "0s"), "--ping-interval 0s"},
		{append(master, "--ping-interval", "-1s"), "--ping-interval"},
		{append(master, "--ping-timeout", "-1s"), "--ping-timeout"},
		{append(master, "--ping-timeout", "1s"), "--ping-timeout 1s is shorter than --ping-interval"},
		{append(master, "--allocation-interval", "0s"), "--allocation-interval"},
		{append(master, "--offer-timeout", "-1s"), "--offer-timeout"},
		{append(master, "--failover-timeout", "-1s"), "--failover-timeout"},
		{append(master, "--failover-timeout", "0s"), "--failover-timeout"},
		{append(master, "--lease-ttl", "0s"), "--lease-ttl"},
		{append(master, "--lease-ttl", "1500ms"), "--lease-ttl"},
		{append(master, "--etcd", "localhost"), "--etcd"},
		{append(master, "--etcd", "ftp://etcd:2379"), "--etcd"},
		{append(master, "--etcd-prefix", ""), "--etcd-prefix"},
		{append(master, "--advertise", "somewhere"), "--advertise"},
		{append(master, "--http", "5051"), "--http"},
		{append(master, "--rate-limit", "NaN"), "--rate-limit NaN"},
		{append(master, "--rate-limit", "-5"), "--rate-limit -5"},
		{append(master, "--rate-limit", "+Inf"), "--rate-limit"},
		{append(master, "--rate-burst", "0"), "--rate-burst"},
		{append(master, "--agent-rate-limit", "NaN"), "--agent-rate-limit"},
		{append(master, "--agent-rate-burst", "-1"), "--agent-rate-burst"},
		{append(master, "--auth-failure-rate", "0"), "--auth-failure-rate"},
		{append(master, "--auth-failure-rate", "NaN"), "--auth-failure-rate"},
		{append(master, "--auth-failure-burst", "0"), "--auth-failure-burst"},
		{append(master, "--max-connections", "0"), "--max-connections"},
		{append(master, "--handshake-timeout", "0s"), "--handshake-timeout"},
		{append(master, "--tls-cert", missing), "--tls-cert"},
		{append(master, "--tls-cert", dir), "--tls-cert"},
		{append(master, "--tls-cert", file, "--tls-ca", file), "--tls-key go together"},
		{append(append(master, pair("agent")...), "--insecure"), "bound to role agent; this command needs a master certificate"},
		{append(master, "--credentials", missing), "--credentials"},
		{append(master, "--credentials", shortSecret), `principal "ops"`},
		{append(master, "--acl", missing), "--acl"},
		{append(master, "--log-level", "loud"), "--log-level"},
		{append(master, "--log-format", "xml"), "--log-format"},

		{append(agent, "--resources", "cpus:0"), "--resources"},
		{append(agent, "--resources", ";;;"), "--resources"},
		{append(agent, "--resources", "{}"), "--resources"},
		{append(agent, "--resources", "cpus:4;cpus:2"), "given twice"},
		{append(agent, "--resources", "CPUS:2"), "did you mean cpus"},
		{append(agent, "--master", ""), "--master"},
		{append(agent, "--master", "host:port"), "--master"},
		{append(agent, "--etcd", "ftp://etcd"), "--etcd"},
		{append(agent, "--isolation", "docker"), "--isolation"},
		{append(agent, "--cgroup-parent", ""), "--cgroup-parent"},
		{append(agent, "--cgroup-parent", "../escape"), "--cgroup-parent"},
		{append(agent, "--cgroup-parent", "/abs"), "--cgroup-parent"},
		{append(agent, "--hostname", "a\x01b"), "--hostname"},
		{append(agent, "--hostname", strings.Repeat("h", 256)), "the limit is 255"},
		{append(agent, "--recover", "maybe"), "--recover"},
		{append(agent, "--executor-reregister-timeout", "0s"), "--executor-reregister-timeout"},
		{append(agent, "--executor-recovery-timeout", "-1s"), "--executor-recovery-timeout"},
		{append(agent, "--http", "nope"), "--http"},
		{append(agent, "--sandbox-readers", ""), "--sandbox-readers"},
		{append(agent, "--max-connections", "-1"), "--max-connections"},
		{append(agent, "--handshake-timeout", "0s"), "--handshake-timeout"},
		{append(agent, "--token-file", missing), "--token-file"},
		{append(agent, "--tls-ca", file), "--tls-ca without --tls-cert"},
		{append(agent, pair("master")...), "bound to role master; this command needs an agent certificate"},

		{[]string{"execute", "--master", "nope", "--", "true"}, "--master"},
		{[]string{"execute", "--name", "", "--", "true"}, "--name"},
		{[]string{"execute", "--resources", "{}", "--", "true"}, "--resources"},
		{[]string{"execute", "--resources", "cpus:0.5;cpus:1", "--", "true"}, "--resources"},
		{[]string{"execute", "--token-file", missing, "--", "true"}, "--token-file"},
		{append(append([]string{"execute"}, pair("agent")...), "--", "true"), "bound to role agent"},

		{[]string{"run", "pi", "--master", "nope"}, "--master"},
		{[]string{"run", "pi", "--failover-timeout", "-1s"}, "--failover-timeout"},

		{[]string{"demo", "--pi-tasks", "0"}, "--pi-tasks"},
		{[]string{"demo", "--samples", "-1"}, "--samples"},
		{[]string{"demo", "--commands", "-1"}, "--commands"},
		{[]string{"demo", "--policy", "nope"}, "--policy"},
		{[]string{"demo", "--timeout", "0s"}, "--timeout"},
		{[]string{"demo", "--isolation", "docker"}, "--isolation"},
		{[]string{"demo", "--policies", "drf,nope"}, "--policies"},
		{[]string{"demo", "--ui", "nope"}, "--ui"},
		{[]string{"demo", "--log-format", "xml"}, "--log-format"},

		{[]string{"sim", "--agents", "0"}, "--agents"},
		{[]string{"sim", "--jobs", "0"}, "--jobs"},
		{[]string{"sim", "--policy", "nope"}, "--policy"},
		{[]string{"sim", "--delay", "-1s"}, "--delay"},
		{[]string{"sim", "--latency", "-1ms"}, "--latency"},
		{[]string{"sim", "--sharing", "lifo"}, "--sharing"},
		{[]string{"sim", "--trace", ""}, "--trace"},
		{[]string{"sweep", "--out", out, "--workers", "0"}, "--workers"},

		{[]string{"experiment", "locality", "--seeds", "-1"}, "--seeds"},
		{[]string{"experiment", "locality", "--policy", "drf,nope"}, "--policy"},
		{[]string{"experiment", "locality", "--out", ""}, "--out"},
		{[]string{"experiment", "failover", "--lease-ttl", "0s"}, "--lease-ttl"},
		{[]string{"experiment", "failover", "--timeout", "0s"}, "--timeout"},
		{[]string{"experiment", "failover", "--tasks-per-agent", "-1"}, "--tasks-per-agent"},
		{[]string{"experiment", "scalability", "--frameworks", "0"}, "--frameworks"},
		{[]string{"experiment", "scalability", "--probes", "0"}, "--probes"},
		{[]string{"experiment", "scalability", "--window", "0s"}, "--window"},
		{[]string{"experiment", "scalability", "--gc-percent", "-2"}, "--gc-percent"},
		{[]string{"experiment", "scalability", "--memory-limit", "-1"}, "--memory-limit"},

		{[]string{"bench", "launch", "--agents", "0"}, "--agents"},
		{[]string{"bench", "launch", "--tasks", "0"}, "--tasks"},
		{[]string{"bench", "launch", "--frameworks", "0"}, "--frameworks"},
		{[]string{"bench", "launch", "--task-duration", "-1s"}, "--task-duration"},
		{[]string{"bench", "launch", "--agent-resources", ";;;"}, "--agent-resources"},
		{[]string{"bench", "launch", "--task-resources", "{}"}, "--task-resources"},
		{[]string{"bench", "launch", "--agents-per-conn", "0"}, "--agents-per-conn"},
		{[]string{"bench", "launch", "--policy", "nope"}, "--policy"},
		{[]string{"bench", "launch", "--allocation-interval", "0s"}, "--allocation-interval"},
		{[]string{"bench", "launch", "--timeout", "0s"}, "--timeout"},
		{[]string{"bench", "offers", "--duration", "0s"}, "--duration"},
		{[]string{"bench", "offers", "--warmup", "-1s"}, "--warmup"},
		{[]string{"bench", "offers", "--agents", "-3"}, "--agents"},
		{[]string{"bench", "compare", "--threshold", "NaN", file, file}, "--threshold"},
		{[]string{"bench", "compare", "--metrics", "", file, file}, "--metrics"},

		{[]string{"certs", "init", "--days", "0", filepath.Join(dir, "c1")}, "--days"},
		{[]string{"certs", "init", "--principals", "master", filepath.Join(dir, "c2")}, "--principals"},
		{[]string{"certs", "init", "--principals", "a,a", filepath.Join(dir, "c3")}, "--principals"},
		{[]string{"certs", "init", "--hosts", "a b", filepath.Join(dir, "c4")}, "--hosts"},

		{[]string{"status", "--master-http", "ftp://x"}, "--master-http"},
		{[]string{"status", "--tls-cert", file}, "--tls-key"},
		{[]string{"status", "--token-file", missing}, "--token-file"},
		{[]string{"agents", "--offset", "-1"}, "--offset"},
		{[]string{"agents", "--limit", "-1"}, "--limit"},
		{[]string{"frameworks", "--tls-ca", file}, "--tls-ca"},
		{[]string{"tasks", "--state", "sleepy"}, "--state"},
		{[]string{"kill", "T", "--wait", "-1s"}, "--wait"},
		{[]string{"logs", "T", "--tail", "-1"}, "--tail"},
		{[]string{"logs", "T", "--poll", "0s"}, "--poll"},
		{[]string{"drain", "A", "--deadline", "-5m"}, "--deadline"},
		{[]string{"drain", "A", "--deadline", "tomorrow"}, "--deadline"},
		{[]string{"undrain", "A", "--token-file", missing}, "--token-file"},
	}
	cmds := commands()
	for _, tc := range cases {
		name, args := tc.args[0], tc.args[1:]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		err := cmds[name].run(ctx, args)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("mezzo %s: %v; want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
			continue
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("mezzo %s took %v to refuse the flag; it should refuse before starting", strings.Join(tc.args, " "), d)
		}
	}
	if _, err := os.Stat(work); err == nil {
		t.Error("an agent refused for its flags created its work dir")
	}
}
