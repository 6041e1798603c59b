package agent

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

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
	"github.com/mezzo-cluster/mezzo/runtime/isolation"
)

// isolators are the isolators the recovery tests run with: the process
// isolator always, cgroups when this machine can (root, cgroups mounted).
func isolators(t *testing.T) []string {
	kinds := []string{"process"}
	if os.Geteuid() == 0 {
		if _, err := isolation.New("cgroups", isolation.Options{Parent: recoverParent()}); err == nil {
			kinds = append(kinds, "cgroups")
			t.Cleanup(removeRecoverParent)
		} else {
			t.Logf("cgroups not tested: %v", err)
		}
	}
	return kinds
}

func recoverParent() string { return fmt.Sprintf("mezzo-agent-recover-test-%d", os.Getpid()) }

// removeRecoverParent kills what is left in the tests' parent cgroup and
// removes it, wherever the agent's own cgroup put it (the tests may run in
// a cgroup namespace, where /proc/self/cgroup does not say).
func removeRecoverParent() {
	_, _ = isolation.Cleanup(recoverParent())
	for _, pat := range []string{"*", "*/*", "*/*/*", "*/*/*/*"} {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", pat, recoverParent()))
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}
}

// loopTask runs until its stop file exists or its directory is gone (the
// test ended), after writing its shell's pid.
func loopTask(id, dir string) mezzo.TaskInfo {
	pid, stop := filepath.Join(dir, id+".pid"), filepath.Join(dir, id+".stop")
	return mezzo.TaskInfo{ID: mezzo.TaskID(id), Resources: mezzo.MustParseResources("cpus:0.1;mem:32"),
		Command: &mezzo.CommandInfo{Shell: true,
			Value: fmt.Sprintf("echo $$ > %s; while [ -d %s ] && [ ! -e %s ]; do sleep 0.05; done", pid, dir, stop)}}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkpointsByExecutor reads the executor checkpoints in dir.
func checkpointsByExecutor(t *testing.T, dir string) map[mezzo.ExecutorID]loadedCheckpoint {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, checkpointDir, "*.json"))
	out := map[mezzo.ExecutorID]loadedCheckpoint{}
	for _, f := range files {
		l, err := readCheckpoint(f)
		if err != nil {
			t.Fatalf("checkpoint %s: %v", f, err)
		}
		out[l.info.ID] = l
	}
	return out
}

// An agent that stops leaving its executors running (as a crashed one
// does) and starts again on the same work directory takes back the
// executors that are still there, whatever happened to them meanwhile:
//
//   - "runs" keeps running across the restart and finishes after it;
//   - "ends" finishes while the agent is down (its executor holds the
//     update and resends it);
//   - "dies" loses its executor and its process while the agent is down;
//   - "mute" keeps a live executor that cannot reconnect (stopped).
//
// Each task ends with exactly one terminal update, and the re-registration
// with the master carries the tasks that still run.
func TestRestartReconnectsToExecutors(t *testing.T) {
	for _, iso := range isolators(t) {
		t.Run(iso, func(t *testing.T) { testRestartReconnects(t, iso) })
	}
}

func testRestartReconnects(t *testing.T, iso string) {
	m := startFakeMaster(t, true)
	dir, files := t.TempDir(), t.TempDir()
	tasks := []string{"runs", "ends", "dies", "mute"}
	t.Cleanup(func() { // nothing may outlive the test, whatever failed
		for _, id := range tasks {
			_ = os.WriteFile(filepath.Join(files, id+".stop"), nil, 0o644)
		}
		if iso == "cgroups" {
			removeRecoverParent()
		}
	})
	cfg := Config{WorkDir: dir, Isolation: iso, CgroupParent: recoverParent(), DetachOnStop: true,
		ExecutorReregisterTimeout: 5 * time.Second}
	first, stop := startAgent(t, m, cfg)
	<-m.subscribes
	var infos []mezzo.TaskInfo
	for _, id := range tasks {
		infos = append(infos, loopTask(id, files))
	}
	m.events <- launchEvent1("fw", infos...)
	running := map[mezzo.TaskID]string{}
	for _, id := range tasks {
		if s := m.nextUpdate(t, mezzo.TaskID(id)); s.State != mezzo.TaskRunning {
			t.Fatalf("%s: %v %q, want RUNNING", id, s.State, s.Message)
		} else {
			running[s.TaskID] = s.UUID
		}
	}
	// The RUNNING updates are acknowledged before the agent goes.
	waitFor(t, func() bool {
		for _, id := range tasks {
			if p := first.store.pending("fw", mezzo.TaskID(id)); len(p) > 0 {
				return false
			}
		}
		return true
	})
	taskPid := func(id string) int {
		var pid int
		waitFor(t, func() bool {
			b, _ := os.ReadFile(filepath.Join(files, id+".pid"))
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			return pid > 0
		})
		return pid
	}
	stop()

	cps := checkpointsByExecutor(t, dir)
	if len(cps) != len(tasks) {
		t.Fatalf("%d executor checkpoints, want %d", len(cps), len(tasks))
	}
	for _, id := range tasks {
		cp, ok := cps[mezzo.ExecutorID("command-"+id)]
		if !ok || len(cp.tasks) != 1 || cp.tasks[0].ID != mezzo.TaskID(id) || cp.cp.Token == "" || cp.fw.ID != "fw" {
			t.Fatalf("checkpoint of %s's executor: %+v", id, cp)
		}
		if !isolation.Alive(cp.cp.Container.Pid) {
			t.Fatalf("%s's executor (pid %d) did not survive the agent's stop", id, cp.cp.Container.Pid)
		}
	}
	// While the agent is down.
	touch(t, filepath.Join(files, "ends.stop"))
	diesPid := taskPid("dies")
	_ = syscall.Kill(cps["command-dies"].cp.Container.Pid, syscall.SIGKILL)
	_ = syscall.Kill(diesPid, syscall.SIGKILL)
	mute := cps["command-mute"].cp.Container.Pid
	if err := syscall.Kill(mute, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var orphan isolation.Container
	if iso == "cgroups" { // a container no checkpoint names
		cgi, err := isolation.New("cgroups", isolation.Options{Parent: recoverParent()})
		if err != nil {
			t.Fatal(err)
		}
		if orphan, err = cgi.Start("orphan", exec.Command("sleep", "60"), isolation.Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool {
		return !isolation.Alive(diesPid) && !isolation.Alive(cps["command-dies"].cp.Container.Pid)
	})

	cfg.DetachOnStop = false
	second, _ := startAgent(t, m, cfg)
	if orphan != nil {
		if info, _ := orphan.Wait(); info.Signal != syscall.SIGKILL {
			t.Errorf("orphan container's process %v, want killed by the restarted agent", info)
		}
	}
	req := <-m.subscribes
	if req.Agent.AgentId != "agent-1" {
		t.Errorf("re-registered as %q", req.Agent.AgentId)
	}
	reported := map[string]string{}
	for _, rt := range req.Tasks {
		reported[rt.GetTask().GetTaskId()] = rt.State.String()
	}
	if !strings.Contains(reported["runs"], "RUNNING") {
		t.Errorf("re-registration reports runs as %q (tasks %v), want RUNNING", reported["runs"], reported)
	}
	for _, gone := range []string{"dies", "mute"} {
		if st := reported[gone]; !strings.Contains(st, "LOST") {
			t.Errorf("re-registration reports %s as %q, want TASK_LOST: its executor is gone", gone, st)
		}
	}
	touch(t, filepath.Join(files, "runs.stop"))

	want := map[mezzo.TaskID]mezzo.TaskState{"runs": mezzo.TaskFinished, "ends": mezzo.TaskFinished,
		"dies": mezzo.TaskLost, "mute": mezzo.TaskLost}
	terminal := map[mezzo.TaskID]map[string]mezzo.TaskStatus{} // by uuid
	record := func(s mezzo.TaskStatus) {
		if s.State == mezzo.TaskRunning {
			if s.UUID != running[s.TaskID] {
				t.Errorf("%s: a second RUNNING update (uuid %s, first %s)", s.TaskID, s.UUID, running[s.TaskID])
			}
			return
		}
		if terminal[s.TaskID] == nil {
			terminal[s.TaskID] = map[string]mezzo.TaskStatus{}
		}
		terminal[s.TaskID][s.UUID] = s
	}
	for id := range want {
		for s := m.nextUpdate(t, id); ; s = m.nextUpdate(t, id) {
			record(s)
			if s.State.Terminal() {
				break
			}
		}
	}
	// Quiet: every update acknowledged, every executor gone; then nothing
	// more may have arrived.
	waitFor(t, func() bool {
		second.mu.Lock()
		n := len(second.frameworks["fw"].executors)
		second.mu.Unlock()
		for id := range want {
			if len(second.store.pending("fw", id)) > 0 {
				return false
			}
		}
		return n == 0
	})
	for _, u := range m.held {
		record(u.status)
	}
	m.held = nil
	for len(m.updates) > 0 {
		record((<-m.updates).status)
	}
	for id, st := range want {
		if len(terminal[id]) != 1 {
			t.Errorf("%s: %d terminal updates %v, want exactly one", id, len(terminal[id]), terminal[id])
			continue
		}
		for _, s := range terminal[id] {
			if s.State != st {
				t.Errorf("%s ended %v (%s: %q), want %v", id, s.State, s.Reason, s.Message, st)
			}
			if st == mezzo.TaskLost && s.Reason != mezzo.ReasonAgentRestarted {
				t.Errorf("%s lost with reason %s, want %s", id, s.Reason, mezzo.ReasonAgentRestarted)
			}
		}
	}
	if isolation.Alive(mute) {
		t.Errorf("the executor that did not reconnect (pid %d) is still alive", mute)
	}
	if cps := checkpointsByExecutor(t, dir); len(cps) != 0 {
		t.Errorf("checkpoints left after every executor ended: %v", cps)
	}
}

// With Recover "cleanup" the executors a previous run left are killed and
// their tasks reported lost.
func TestRestartWithCleanupKillsExecutors(t *testing.T) {
	m := startFakeMaster(t, true)
	dir, files := t.TempDir(), t.TempDir()
	t.Cleanup(func() { _ = os.WriteFile(filepath.Join(files, "t.stop"), nil, 0o644) })
	cfg := Config{WorkDir: dir, DetachOnStop: true}
	_, stop := startAgent(t, m, cfg)
	<-m.subscribes
	m.events <- launchEvent1("fw", loopTask("t", files))
	if s := m.nextUpdate(t, "t"); s.State != mezzo.TaskRunning {
		t.Fatalf("got %v", s.State)
	}
	stop()
	cps := checkpointsByExecutor(t, dir)
	pid := cps["command-t"].cp.Container.Pid
	if !isolation.Alive(pid) {
		t.Fatal("executor did not survive the stop")
	}
	startAgent(t, m, Config{WorkDir: dir, Recover: RecoverCleanup})
	// The task is reported, as lost: the master takes its end from the
	// agent's update instead of declaring it lost a second time.
	if req := <-m.subscribes; len(req.Tasks) != 1 || !strings.Contains(req.Tasks[0].State.String(), "LOST") {
		t.Errorf("re-registration after cleanup reports tasks %v, want t lost", req.Tasks)
	}
	var s mezzo.TaskStatus
	for s = m.nextUpdate(t, "t"); s.State == mezzo.TaskRunning; s = m.nextUpdate(t, "t") {
	}
	if s.State != mezzo.TaskLost || s.Reason != mezzo.ReasonAgentRestarted {
		t.Errorf("after a cleanup restart: %v %s, want TASK_LOST for the restart", s.State, s.Reason)
	}
	waitFor(t, func() bool { return !isolation.Alive(pid) })
	if _, err := New(Config{Master: m.addr, WorkDir: dir, Recover: "maybe", Resources: mezzo.Cpus(1)}); err == nil || !strings.Contains(err.Error(), "maybe") {
		t.Errorf("Recover \"maybe\": err %v, want it named", err)
	}
}

// A checkpointed executor that is gone when the agent starts: its task that
// never sent an update is reported lost (not forgotten), and the terminal
// update the agent held for it is delivered as the task's end.
func TestCheckpointOfAGoneExecutor(t *testing.T) {
	dir := t.TempDir()
	fw, _ := protojson.Marshal(api.FrameworkToProto(mezzo.FrameworkInfo{ID: "fw", Name: "test"}))
	ex, _ := protojson.Marshal(api.ExecutorToProto(&mezzo.ExecutorInfo{ID: "shared", Kind: "upper"}))
	cp := checkpoint{Framework: fw, Executor: ex, Token: "t0k3n", Sandbox: filepath.Join(dir, "sandboxes", "x"),
		Container: isolation.Handle{ID: "gone-1", Pid: 1 << 30, StartTime: 1},
		Held:      []mezzo.TaskStatus{{TaskID: "held", ExecutorID: "shared", State: mezzo.TaskFinished, UUID: "u-held", Message: "done"}}}
	for _, id := range []mezzo.TaskID{"held", "never-ran"} {
		b, _ := protojson.Marshal(api.TaskToProto(mezzo.TaskInfo{ID: id, Resources: mezzo.Cpus(0.1)}))
		cp.Tasks = append(cp.Tasks, b)
	}
	b, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, checkpointDir, "gone-1.json"), b); err != nil {
		t.Fatal(err)
	}
	// A damaged or foreign file is reported and moved aside, not fatal,
	// and the temporary file of a write a crash interrupted is removed.
	if err := os.WriteFile(filepath.Join(dir, checkpointDir, "torn.json"), []byte(`{"framework":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, checkpointDir, "gone-2.json.tmp"), []byte(`{"framework":`), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startFakeMaster(t, true)
	startAgent(t, m, Config{WorkDir: dir})
	req := <-m.subscribes
	reported := map[string]string{}
	for _, rt := range req.Tasks {
		reported[rt.GetTask().GetTaskId()] = rt.State.String()
	}
	if !strings.Contains(reported["held"], "FINISHED") || !strings.Contains(reported["never-ran"], "LOST") {
		t.Errorf("re-registration reports %v, want held FINISHED and never-ran LOST", reported)
	}
	if s := m.nextUpdate(t, "held"); s.State != mezzo.TaskFinished || s.UUID != "u-held" {
		t.Errorf("held: %+v, want the held FINISHED", s)
	}
	if s := m.nextUpdate(t, "never-ran"); s.State != mezzo.TaskLost || s.Reason != mezzo.ReasonAgentRestarted {
		t.Errorf("never-ran: %v %s, want TASK_LOST for the restart", s.State, s.Reason)
	}
	files, _ := filepath.Glob(filepath.Join(dir, checkpointDir, "*"))
	if len(files) != 1 || !strings.HasPrefix(filepath.Base(files[0]), "torn.json.") || !strings.HasSuffix(files[0], corruptExt) {
		t.Errorf("checkpoints left: %v, want only torn.json moved aside", files)
	}
}

// The executors an agent starts learn from their environment how long to
// wait for it (Config.ExecutorRecoveryTimeout); without it they wait 15 s.
func TestExecutorsAreToldTheRecoveryTimeout(t *testing.T) {
	for _, c := range []struct {
		timeout time.Duration
		want    string
	}{{2 * time.Minute, executor.EnvRecoveryTimeout + "=2m0s"}, {0, ""}} {
		m := startFakeMaster(t, true)
		dir, files := t.TempDir(), t.TempDir()
		_, stop := startAgent(t, m, Config{WorkDir: dir, Isolation: "process", ExecutorRecoveryTimeout: c.timeout})
		<-m.subscribes
		m.events <- launchEvent1("fw", loopTask("t", files))
		if s := m.nextUpdate(t, "t"); s.State != mezzo.TaskRunning {
			t.Fatalf("t: %v %q, want RUNNING", s.State, s.Message)
		}
		cp, ok := checkpointsByExecutor(t, dir)["command-t"]
		if !ok {
			t.Fatal("no checkpoint of t's executor")
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cp.cp.Container.Pid))
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, kv := range strings.Split(string(b), "\x00") {
			if strings.HasPrefix(kv, executor.EnvRecoveryTimeout+"=") {
				got = kv
			}
		}
		if got != c.want {
			t.Errorf("ExecutorRecoveryTimeout %v: executor environment has %q, want %q", c.timeout, got, c.want)
		}
		touch(t, filepath.Join(files, "t.stop"))
		stop()
	}
}

// An executor checkpoint the disk refuses is written once space comes back
// (nothing else about the executor need change), and a restarted agent
// takes the executor back instead of reporting its task lost.
func TestCheckpointRefusedByAFullDiskIsWrittenLater(t *testing.T) {
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	mountTmpfs(t, filepath.Join(dir, checkpointDir), 64<<10)
	free := fill(t, filepath.Join(dir, checkpointDir))
	cfg := Config{WorkDir: dir, DetachOnStop: true, StatusRetry: 20 * time.Millisecond, StatusRetryMax: 50 * time.Millisecond,
		ExecutorReregisterTimeout: 5 * time.Second}
	_, stop := startAgent(t, m, cfg)
	<-m.subscribes
	m.events <- launchEvent1("fw", shellTask("t", "cpus:0.1;mem:32", "sleep 60"))
	if s := m.nextUpdate(t, "t"); s.State != mezzo.TaskRunning {
		t.Fatalf("t: %v %q", s.State, s.Message)
	}
	if cps := checkpointsByExecutor(t, dir); len(cps) != 0 {
		t.Fatalf("checkpoints on a full disk: %v", cps)
	}
	free()
	waitFor(t, func() bool { return len(checkpointsByExecutor(t, dir)) == 1 })
	stop()

	cfg.DetachOnStop = false // the next run kills the executor when it ends
	next, _ := startAgent(t, m, cfg)
	if req := <-m.subscribes; len(req.GetTasks()) != 1 || req.GetTasks()[0].GetTask().GetTaskId() != "t" {
		t.Errorf("the next run re-registers with %v, want task t", req.GetTasks())
	}
	next.mu.Lock()
	adopted := next.frameworks["fw"] != nil && next.frameworks["fw"].executors["command-t"] != nil &&
		next.frameworks["fw"].executors["command-t"].adopted
	next.mu.Unlock()
	if !adopted {
		t.Error("the next run did not take back t's executor")
	}
}
