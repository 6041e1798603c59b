package attack

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Probes of what keeps one tenant's tasks from another's on a shared
// agent, where the ACL lets both run as nobody: the executor token (a
// stolen one forges the victim's task states), signals, and sandboxes.

// buildAttacker builds testdata/stealtoken into dir (which every user may
// traverse) and returns its path.
func buildAttacker(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "stealtoken")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/stealtoken").CombinedOutput()
	if err != nil {
		t.Fatalf("building the attacker: %v\n%s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// victimOf finds, as root, task id's sandbox on agent a, its executor's
// pid and token (from the agent's checkpoint), and the pid the task wrote
// into its sandbox.
func victimOf(t *testing.T, a *agentProc, id string) (sandbox string, execPid int, token string, taskPid int) {
	t.Helper()
	eventually(t, "task "+id+"'s executor checkpoint and pid file", 20*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(a.workDir, "executors", "*.json"))
		for _, f := range files {
			var cp struct {
				Token     string `json:"token"`
				Sandbox   string `json:"sandbox"`
				Container struct {
					Pid int `json:"pid"`
				} `json:"container"`
			}
			b, err := os.ReadFile(f)
			if err != nil || json.Unmarshal(b, &cp) != nil || !strings.HasPrefix(filepath.Base(cp.Sandbox), "e-command-"+id+"-") {
				continue
			}
			b, _ = os.ReadFile(filepath.Join(cp.Sandbox, "pid"))
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				sandbox, execPid, token, taskPid = cp.Sandbox, cp.Container.Pid, cp.Token, n
				return true
			}
		}
		return false
	})
	return
}

// taskOutput is what task id wrote to its stdout, read from the agent's
// disk as root once the task has ended.
func taskOutput(t *testing.T, a *agentProc, fw, id string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(a.workDir, "sandboxes", "f-"+fw, "e-command-"+id+"-*", "task-"+id+".stdout"))
	if len(files) != 1 {
		t.Fatalf("task %s's output: %v", id, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runToEnd runs a command task as nobody and waits for its end.
func runToEnd(t *testing.T, f *framework, id, shell string) mezzo.TaskStatus {
	t.Helper()
	f.run(id, "cpus:0.2;mem:128", shell)
	return f.waitState(id, 90*time.Second, mezzo.TaskFinished, mezzo.TaskFailed, mezzo.TaskKilled, mezzo.TaskError, mezzo.TaskLost)
}

// longTask runs until the file stop exists, after writing its pid.
func longTask(stop, prelude string) string {
	return fmt.Sprintf(`%s echo $$ > pid; while [ ! -e %s ]; do sleep 0.1; done; echo ended by its own word`, prelude, stop)
}

// Issue item 2: a task of tenant-b's goes after the executor token of a
// running task of tenant-a's on the same agent (both run as nobody): every
// process's environment, the executor's descriptors, memory, ptrace and
// pidfd_getfd; then it calls the agent's ExecutorAPI as that executor with
// whatever it found, claiming tenant-a's task FINISHED, and (isolated
// task users) sends SIGKILL to tenant-a's executor and task. Tenant-a's
// task must keep running and end by its own word. With --task-users host
// the token is still out of reach (the executor is not dumpable and never
// had it in its environment), but the kill is not tried: tasks of the
// same host user may signal each other there, as the README says.
func TestStolenExecutorTokenCannotForgeStates(t *testing.T) {
	slow(t)
	needRoot(t)
	for _, mode := range []string{"isolated", "host"} {
		t.Run(mode, func(t *testing.T) {
			c := newCluster(t, clusterOptions{AgentArgs: []string{"--task-users", mode}})
			attacker := buildAttacker(t, c.dir)
			stop := filepath.Join(c.dir, "stop-victim")
			a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "victim", Role: "a", User: "nobody"})
			a.run("victim", "cpus:0.2;mem:64", longTask(stop, ""))
			a.waitState("victim", 30*time.Second, mezzo.TaskRunning)
			ag := c.agents[0]
			_, execPid, token, taskPid := victimOf(t, ag, "victim")

			b := mustSubscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{Name: "attacker", Role: "b", User: "nobody"})
			kill := ""
			if mode == "isolated" {
				kill = "-kill"
			}
			end := runToEnd(t, b, "steal", fmt.Sprintf("%s -framework %s -executor command-victim -task victim -pids %d,%d %s",
				attacker, a.id, execPid, taskPid, kill))
			report := taskOutput(t, ag, b.id, "steal")
			t.Logf("the attacker (%v) reported:\n%s", end.State, report)
			if !strings.Contains(report, "updates tried:") || !strings.Contains(report, "wrong executor token") {
				t.Fatalf("the attacker did not get as far as calling the agent (%v %q):\n%s", end.State, end.Message, report)
			}
			if strings.Contains(report, "FORGED") || strings.Contains(report, token) {
				t.Errorf("the attacker got tenant-a's executor token or forged an update")
			}
			if !strings.Contains(report, "environ: ") || strings.Contains(report, "MEZZO_EXECUTOR_TOKEN found") {
				t.Errorf("the attacker found a token in an environment")
			}
			for _, pid := range []int{execPid, taskPid} {
				if err := syscall.Kill(pid, 0); err != nil {
					t.Errorf("tenant-a's process %d is gone after the attack: %v", pid, err)
				}
			}
			if states := a.statesOf("victim"); len(states) != 1 || states[0] != mezzo.TaskRunning {
				t.Fatalf("tenant-a's task went through %v during the attack, want RUNNING only", states)
			}
			if err := os.WriteFile(stop, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			fin := a.waitState("victim", 30*time.Second, mezzo.TaskFinished, mezzo.TaskFailed, mezzo.TaskKilled, mezzo.TaskLost)
			if fin.State != mezzo.TaskFinished || strings.Contains(fin.Message, "forged") {
				t.Errorf("tenant-a's task ended %v %q, want FINISHED by its own exit", fin.State, fin.Message)
			}
		})
	}
}

// Issue item 4: tenant-b's task tries to read a running task of
// tenant-a's output (a secret it printed and wrote to a file) by path
// under the agent's work dir, through /proc/PID/cwd, by listing and
// grepping the work dir, tries to write into tenant-a's sandbox and to kill
// tenant-a's task; then again once tenant-a's task has ended. Through the
// master, tenant-b is refused tenant-a's sandbox (403) while tenant-a and
// admin read it.
func TestTenantCannotReadAnotherTenantsSandbox(t *testing.T) {
	slow(t)
	needRoot(t)
	c := newCluster(t, clusterOptions{})
	ag := c.agents[0]
	secret := "TOP-SECRET-" + randomToken(t)
	stop := filepath.Join(c.dir, "stop-keeper")
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "keeper", Role: "a", User: "nobody"})
	a.run("keeper", "cpus:0.2;mem:64", longTask(stop, fmt.Sprintf("echo %s; echo %s > secret.txt;", secret, secret)))
	a.waitState("keeper", 30*time.Second, mezzo.TaskRunning)
	sandbox, _, _, taskPid := victimOf(t, ag, "keeper")

	b := mustSubscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{Name: "snoop", Role: "b", User: "nobody"})
	snoop := func(pid int) string {
		var sh strings.Builder
		for _, f := range []string{sandbox + "/task-keeper.stdout", sandbox + "/secret.txt", sandbox + "/stdout",
			fmt.Sprintf("/proc/%d/cwd/task-keeper.stdout", pid), fmt.Sprintf("/proc/%d/cwd/secret.txt", pid), fmt.Sprintf("/proc/%d/environ", pid)} {
			fmt.Fprintf(&sh, `echo "== cat %s"; cat %s 2>&1; `, f, f)
		}
		fmt.Fprintf(&sh, `echo "== ls"; ls -la %s %s/sandboxes %s/sandboxes/* 2>&1; `, sandbox, ag.workDir, ag.workDir)
		fmt.Fprintf(&sh, `echo "== grep"; grep -r TOP-SECRET %s 2>&1 | head -20; `, ag.workDir)
		fmt.Fprintf(&sh, `echo "== write"; echo injected > %s/injected 2>&1; `, sandbox)
		fmt.Fprintf(&sh, `echo "== kill"; kill -9 %d; echo "kill exit $?"`, pid)
		return sh.String()
	}
	check := func(id string) {
		t.Helper()
		end := runToEnd(t, b, id, snoop(taskPid))
		out := taskOutput(t, ag, b.id, id)
		t.Logf("tenant-b's snoop %s (%v):\n%s", id, end.State, out)
		if !strings.Contains(out, "== kill") {
			t.Fatalf("the snoop did not run to its end (%v %q)", end.State, end.Message)
		}
		if strings.Contains(out, secret) {
			t.Errorf("tenant-b's task read tenant-a's secret")
		}
		if strings.Contains(out, "kill exit 0") {
			t.Errorf("tenant-b's task signalled tenant-a's")
		}
		if _, err := os.Stat(filepath.Join(sandbox, "injected")); err == nil {
			t.Errorf("tenant-b's task wrote into tenant-a's sandbox")
		}
		// What tenant-b sees of its own task through the master is what it wrote.
		code, body := c.httpGet(tenantB, "/sandbox/"+ag.id+"/"+b.id+"/command-"+id+"/task-"+id+".stdout")
		if code != 200 || !strings.Contains(body, "== kill") {
			t.Errorf("tenant-b reading its own sandbox through the master: %d %.200q", code, body)
		}
	}
	check("snoop-live")
	if err := syscall.Kill(taskPid, 0); err != nil {
		t.Fatalf("tenant-a's task is gone: %v", err)
	}
	for _, file := range []string{"task-keeper.stdout", "stdout", "secret.txt"} {
		path := "/sandbox/" + ag.id + "/" + a.id + "/command-keeper/" + file
		if code, body := c.httpGet(tenantB, path); code != 403 || strings.Contains(body, secret) {
			t.Errorf("tenant-b GET %s through the master: %d %.200q, want 403", path, code, body)
		}
	}
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if fin := a.waitState("keeper", 30*time.Second, mezzo.TaskFinished, mezzo.TaskFailed, mezzo.TaskKilled, mezzo.TaskLost); fin.State != mezzo.TaskFinished {
		t.Fatalf("tenant-a's task ended %v %q, want FINISHED", fin.State, fin.Message)
	}
	// Once its executor is reaped, the sandbox is root's.
	eventually(t, "tenant-a's sandbox handed back to root", 20*time.Second, func() bool {
		st, err := os.Stat(sandbox)
		return err == nil && st.Sys().(*syscall.Stat_t).Uid == 0
	})
	check("snoop-ended")
	for _, who := range []string{tenantA, admin} {
		code, body := c.httpGet(who, "/sandbox/"+ag.id+"/"+a.id+"/command-keeper/task-keeper.stdout")
		if code != 200 || !strings.Contains(body, secret) {
			t.Errorf("%s reading tenant-a's ended sandbox through the master: %d %.200q, want 200 with the secret", who, code, body)
		}
	}
	if code, _ := c.httpGet(tenantB, "/sandbox/"+ag.id+"/"+a.id+"/command-keeper/secret.txt"); code != 403 {
		t.Errorf("tenant-b reading tenant-a's ended sandbox through the master: %d, want 403", code)
	}
}
