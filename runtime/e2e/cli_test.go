package e2e

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestExecuteExitStatus(t *testing.T) {
	addr, _ := cluster(t, 1, "cpus:2;mem:512")
	for _, c := range []struct {
		name  string
		cmd   []string
		code  int
		words []string
	}{
		{"true", []string{"true"}, 0, []string{"TASK_RUNNING", "TASK_FINISHED"}},
		{"exit 3", []string{"sh", "-c", "exit 3"}, 3, []string{"TASK_FAILED", "exited with code 3"}},
		{"missing program", []string{"/no/such/program", "arg"}, 1, []string{"TASK_FAILED", "/no/such/program"}},
		{"missing shell command", []string{"no-such-command-e2e"}, 127, []string{"TASK_FAILED", "command not found"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"execute", "--master", addr, "--resources", "cpus:0.5;mem:32", "--"}, c.cmd...)
			out, code := runMezzo(t, 20*time.Second, args...)
			if code != c.code {
				t.Errorf("exit status %d, want %d; output:\n%s", code, c.code, out)
			}
			for _, w := range c.words {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestBadFlagsSayWhatIsWrong(t *testing.T) {
	out, code := runMezzo(t, 10*time.Second, "agent", "--master", "127.0.0.1:1", "--resources", "cpus:4;mem:lots", "--work-dir", t.TempDir())
	if code == 0 || !strings.Contains(out, `"mem:lots"`) || !strings.Contains(out, "not a number") {
		t.Errorf("malformed resources: exit %d, output %q; want a failure naming the entry", code, out)
	}
	out, code = runMezzo(t, 10*time.Second, "agent", "--master", "127.0.0.1:1", "--resources", "cpus:1;mem:64", "--work-dir", t.TempDir(),
		"--executor-recovery-timeout", "0s")
	if code == 0 || !strings.Contains(out, "--executor-recovery-timeout") {
		t.Errorf("zero recovery timeout: exit %d, output %q; want a failure naming the flag", code, out)
	}
	out, code = runMezzo(t, 10*time.Second, "master", "--policy", "fastest")
	if code == 0 || !strings.Contains(out, "fastest") || !strings.Contains(out, "drf") {
		t.Errorf("unknown policy: exit %d, output %q; want a failure listing the known ones", code, out)
	}
}

var piRE = regexp.MustCompile(`Pi is roughly ([0-9.]+)`)

func TestRunPi(t *testing.T) {
	addr, _ := cluster(t, 2, "cpus:2;mem:1024")
	out, code := runMezzo(t, 30*time.Second, "run", "pi", "--master", addr, "--tasks", "6", "--samples", "1000000")
	if code != 0 {
		t.Fatalf("mezzo run pi: exit %d:\n%s", code, out)
	}
	m := piRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no estimate in:\n%s", out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.Abs(v-math.Pi) > 0.1 {
		t.Fatalf("estimate %q is not within 0.1 of π", m[1])
	}
}

// The scalability experiment runs its master as a child process by
// default; the row must still carry the master's own figures, read from
// that process (its /metrics and /proc), not from the experiment's.
func TestScalabilityExperimentMasterInItsOwnProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mezzoBin, "experiment", "scalability", "--agents", "20", "--frameworks", "4",
		"--task-durations", "exp:500ms", "--probes", "2", "--window", "500ms", "--fill-timeout", "30s",
		"--out", t.TempDir(), "--json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mezzo experiment scalability: %v\n%s", err, stderr.String())
	}
	var res struct {
		Rows []struct {
			Agents            int     `json:"agents"`
			AgentsActive      int     `json:"agents_active"`
			MasterMSPerDec    float64 `json:"master_ms_per_decision"`
			MasterCPUMSPerDec float64 `json:"master_cpu_ms_per_decision"`
			MasterRSSMiB      float64 `json:"master_rss_mib"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("output is not the JSON summary: %v\n%s", err, out)
	}
	if len(res.Rows) != 1 {
		t.Fatalf("rows %+v, want one (20 agents, real runtime)", res.Rows)
	}
	r := res.Rows[0]
	t.Logf("%+v", r)
	if r.Agents != 20 || r.AgentsActive != 20 {
		t.Errorf("agents %d, active at the end %d; want 20 and 20", r.Agents, r.AgentsActive)
	}
	if r.MasterMSPerDec <= 0 || r.MasterCPUMSPerDec <= 0 || r.MasterRSSMiB <= 0 {
		t.Errorf("master loop %.4f ms and CPU %.4f ms per decision, RSS %.1f MiB: want all read from the master's process",
			r.MasterMSPerDec, r.MasterCPUMSPerDec, r.MasterRSSMiB)
	}
}
