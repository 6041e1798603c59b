package attack

// Probes of an agent's durability against a broken machine: a torn or
// corrupt status file, a full disk, a task ID as long as a file name, and
// a FIFO left in a sandbox.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// durableRestartAgent starts a killed agent again with the same flags and
// work directory, and waits until it has registered.
func durableRestartAgent(c *cluster, a *agentProc) *agentProc {
	c.t.Helper()
	b := &agentProc{id: a.id, workDir: a.workDir, args: a.args}
	b.proc = start(c.t, a.Name+"-again", a.args...)
	if id := waitLog(c.t, b.proc, "the restarted agent to register", registeredRE, 30*time.Second); id != a.id {
		c.t.Fatalf("restarted agent registered as %s, was %s", id, a.id)
	}
	return b
}

// durableTmpfsAgent starts one more agent whose work directory is a tmpfs
// of size bytes, unmounted when the test ends (after the agent stops).
func durableTmpfsAgent(c *cluster, size int) *agentProc {
	c.t.Helper()
	work := filepath.Join(c.dir, fmt.Sprintf("agent-%d", len(c.agents)))
	if err := os.MkdirAll(work, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", work).CombinedOutput(); err != nil {
		c.t.Skipf("mount tmpfs: %v %s", err, out)
	}
	c.t.Cleanup(func() { _ = exec.Command("umount", "-l", work).Run() })
	return c.addAgent()
}

// durableFill writes to dir/filler until its file system is full and
// returns a function that frees the space.
func durableFill(t *testing.T, dir string) func() {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// Small writes fill the last partial pages.
	for {
		if _, err := f.Write(buf[:512]); err != nil {
			break
		}
	}
	return func() { _ = os.Remove(p) }
}

// durableStatusFile is the agent's status file whose records name task
// (a file of any layout under the work directory's status/, not one moved
// aside).
func durableStatusFile(t *testing.T, workDir, task string) string {
	t.Helper()
	var found string
	_ = filepath.WalkDir(filepath.Join(workDir, "status"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".corrupt") || found != "" {
			return nil
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(strconv.Quote(task))) {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no status file of task %s under %s", task, workDir)
	}
	return found
}

// durableOfferOn waits for an offer of agent id, leaving others.
func durableOfferOn(f *framework, id string) *api.Offer {
	f.t.Helper()
	var o *api.Offer
	f.wait("an offer of agent "+id, 30*time.Second, func() bool {
		for i, x := range f.offers {
			if x.AgentId == id {
				o = x
				f.offers = append(f.offers[:i], f.offers[i+1:]...)
				return true
			}
		}
		return false
	})
	return o
}

func durableKill(t *testing.T, f *framework, id string) {
	t.Helper()
	if err := call(f, f.client.Kill, &api.KillRequest{Header: f.header(), TaskId: id}); err != nil {
		t.Fatalf("kill %s: %v", id, err)
	}
}

var executorPidRE = `msg="executor started" .*executor=%s .*pid=(\d+)`

// Item 8: a status file torn by a crash mid-write, and another damaged in
// the middle, do not keep the agent down. The agent is killed with -9
// while four tasks run; one task's file gets a torn record, another's a
// flipped byte in its first record (and that task's executor dies while
// the agent is down); a third finishes while the agent is down. The agent
// starts again, the update sent while it was down is delivered, and the
// framework hears an end for every task.
func TestProbeTornStatusFile(t *testing.T) {
	slow(t)
	needRoot(t)
	c := newCluster(t, clusterOptions{})
	ag := c.agents[0]
	f := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "durable", Role: "a", User: "nobody"})
	flag := filepath.Join(c.dir, "p8-late-go")
	tasks := map[string]string{
		"p8-torn":    "sleep 600",
		"p8-corrupt": "sleep 600",
		"p8-other":   "sleep 600",
		"p8-late":    fmt.Sprintf("while [ ! -e %s ]; do sleep 0.1; done", flag),
	}
	ids := []string{"p8-torn", "p8-corrupt", "p8-other", "p8-late"}
	for _, id := range ids {
		f.run(id, "cpus:0.1;mem:32", tasks[id])
		f.waitState(id, 30*time.Second, mezzo.TaskRunning)
	}
	// Each file holds RUNNING and its acknowledgement.
	eventually(t, "the RUNNING acknowledgements stored", 15*time.Second, func() bool {
		for _, id := range ids {
			if b, _ := os.ReadFile(durableStatusFile(t, ag.workDir, id)); bytes.Count(b, []byte("\n")) < 2 {
				return false
			}
		}
		return true
	})
	corruptPid := waitLog(t, ag.proc, "the executor of p8-corrupt", regexp.MustCompile(fmt.Sprintf(executorPidRE, "command-p8-corrupt")), time.Second)
	ag.Kill9(t)

	torn := durableStatusFile(t, ag.workDir, "p8-torn")
	b, err := os.ReadFile(torn)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(torn, append(b, b[:len(b)/2]...), 0o600); err != nil {
		t.Fatal(err)
	}
	corrupt := durableStatusFile(t, ag.workDir, "p8-corrupt")
	if b, err = os.ReadFile(corrupt); err != nil {
		t.Fatal(err)
	}
	b[bytes.Index(b, []byte(`"p8-corrupt"`))+4] = 0 // bit rot in the first record
	if err := os.WriteFile(corrupt, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if pid, _ := strconv.Atoi(corruptPid); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	again := durableRestartAgent(c, ag)
	f.waitState("p8-late", 30*time.Second, mezzo.TaskFinished)
	end := f.waitState("p8-corrupt", 30*time.Second, mezzo.TaskLost, mezzo.TaskFailed, mezzo.TaskKilled, mezzo.TaskFinished)
	t.Logf("p8-corrupt (damaged file, executor gone) ended %v %s %q", end.State, end.Reason, end.Message)
	for _, id := range []string{"p8-torn", "p8-other"} {
		durableKill(t, f, id)
		f.waitState(id, 30*time.Second, mezzo.TaskKilled)
	}
	out := again.Output()
	for _, want := range []string{"status file ends in a torn record", "damaged status file moved aside"} {
		if !strings.Contains(out, want) {
			t.Errorf("restarted agent's log lacks %q", want)
		}
	}
	if aside, _ := filepath.Glob(corrupt + ".*.corrupt"); len(aside) != 1 {
		t.Errorf("damaged file moved aside: %v, want it kept beside %s", aside, corrupt)
	}
	for _, id := range ids {
		var ends int
		for _, s := range f.statesOf(id) {
			if s.Terminal() {
				ends++
			}
		}
		if ends == 0 {
			t.Errorf("%s: states %v, no end", id, f.statesOf(id))
		}
	}
}

// Item 9: a full disk. The agent's work directory is a small tmpfs; with it
// full, a task's TASK_RUNNING cannot be stored. The framework still hears
// it, then TASK_FAILED with REASON_CONTAINER_LIMITATION_DISK naming the
// error, and reconciliation agrees; the running task it shares an
// executor with is still killed cleanly, and the agent stores what it held
// once space comes back.
func TestProbeFullDisk(t *testing.T) {
	slow(t)
	needRoot(t)
	c := newCluster(t, clusterOptions{})
	ag := durableTmpfsAgent(c, 16<<20)
	f := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "durable", Role: "a", User: "nobody"})
	shared := &mezzo.ExecutorInfo{ID: "p9-shared", Kind: "command", Resources: mezzo.MustParseResources("cpus:0.1;mem:32")}
	task := func(id string) mezzo.TaskInfo {
		return mezzo.TaskInfo{ID: mezzo.TaskID(id), Executor: shared, Duration: 10 * time.Minute, Resources: mezzo.MustParseResources("cpus:0.1;mem:16")}
	}
	if err := f.launch(durableOfferOn(f, ag.id), task("p9-first")); err != nil {
		t.Fatal(err)
	}
	f.waitState("p9-first", 30*time.Second, mezzo.TaskRunning)

	free := durableFill(t, ag.workDir)
	if err := f.launch(durableOfferOn(f, ag.id), task("p9-second")); err != nil {
		t.Fatal(err)
	}
	end := f.waitState("p9-second", 30*time.Second, mezzo.TaskFailed, mezzo.TaskFinished, mezzo.TaskKilled, mezzo.TaskLost, mezzo.TaskError)
	if end.State != mezzo.TaskFailed || end.Reason != mezzo.ReasonDiskLimit || !strings.Contains(end.Message, "no space left on device") {
		t.Fatalf("p9-second ended %v %s %q; want TASK_FAILED for the full disk", end.State, end.Reason, end.Message)
	}
	if err := call(f, f.client.Reconcile, &api.ReconcileRequest{Header: f.header(),
		Tasks: []*api.ReconcileRequest_Task{{TaskId: "p9-second"}}}); err != nil {
		t.Fatal(err)
	}
	var rec mezzo.TaskStatus
	f.wait("the reconciliation answer", 15*time.Second, func() bool {
		for _, u := range f.updates {
			if u.TaskID == "p9-second" && u.Reason == mezzo.ReasonReconciliation {
				rec = u
				return true
			}
		}
		return false
	})
	if rec.State != mezzo.TaskFailed {
		t.Errorf("reconciliation answers %v, want TASK_FAILED", rec.State)
	}
	durableKill(t, f, "p9-first")
	f.waitState("p9-first", 30*time.Second, mezzo.TaskKilled)
	for _, id := range []string{"p9-first", "p9-second"} {
		var ends []mezzo.TaskState
		for _, u := range f.updates {
			if string(u.TaskID) == id && u.State.Terminal() && u.Reason != mezzo.ReasonReconciliation {
				ends = append(ends, u.State)
			}
		}
		if len(ends) != 1 {
			t.Errorf("%s: ends %v, want exactly one", id, ends)
		}
	}
	// Space back: the agent stores and runs tasks again.
	free()
	if err := f.launch(durableOfferOn(f, ag.id), mezzo.TaskInfo{ID: "p9-third", Resources: mezzo.MustParseResources("cpus:0.1;mem:32"),
		Command: &mezzo.CommandInfo{Value: "echo space is back", Shell: true, User: "nobody"}}); err != nil {
		t.Fatal(err)
	}
	if end := f.waitState("p9-third", 30*time.Second, mezzo.TaskFinished, mezzo.TaskFailed, mezzo.TaskLost, mezzo.TaskError); end.State != mezzo.TaskFinished {
		t.Errorf("a task once space is back ended %v %q", end.State, end.Message)
	}
}

// Item 9: a task ID of 250 bytes (Mesos accepts up to 255) runs, finishes,
// and its output is readable through the master.
func TestProbeLongTaskID(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	f := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "durable", Role: "a", User: "nobody"})
	id := "p9-" + strings.Repeat("long", 60) + "-end-of-id" // 253 bytes
	id = id[:250]
	f.run(id, "cpus:0.1;mem:32", "echo long id ran")
	end := f.waitState(id, 30*time.Second, mezzo.TaskFinished, mezzo.TaskFailed, mezzo.TaskError, mezzo.TaskLost)
	if end.State != mezzo.TaskFinished {
		t.Fatalf("the 250-byte task ended %v %s %q", end.State, end.Reason, end.Message)
	}
	stdout, _ := executor.TaskOutputFiles(mezzo.TaskID(id))
	code, body := c.httpGet(tenantA, "/sandbox/"+c.agents[0].id+"/"+f.id+"/"+url.PathEscape("command-"+id)+"/"+url.PathEscape(stdout))
	if code != 200 || !strings.Contains(body, "long id ran") {
		t.Errorf("its stdout through the master: %d %q", code, body)
	}
}

// durableGetMany GETs path on the master n times as principal, parallel
// at once, and counts the answers by status (0: no answer).
func durableGetMany(c *cluster, principal, path string, n, parallel int) map[int]int {
	pool, err := security.LoadCAPool(c.ca())
	if err != nil {
		c.t.Fatal(err)
	}
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13},
		MaxIdleConnsPerHost: parallel}}
	defer cl.CloseIdleConnections()
	var mu sync.Mutex
	codes := map[int]int{}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+c.httpAddr+path, nil)
			req.Header.Set("Authorization", "Bearer "+c.tokens[principal])
			code := 0
			if resp, err := cl.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return codes
}

// Item 10: a task leaves a FIFO, links to it and to /dev/zero, and a
// directory in its sandbox; 200 requests for each through the master's
// sandbox proxy are all refused, the agent's threads and descriptors do
// not grow, and it still launches tasks.
func TestProbeSandboxFIFO(t *testing.T) {
	slow(t)
	c := newCluster(t, clusterOptions{})
	ag := c.agents[0]
	f := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "durable", Role: "a", User: "nobody"})
	f.run("p10-trap", "cpus:0.1;mem:32", "mkfifo pipe && ln -s pipe pipelink && ln -s /dev/zero zero && mkdir sub && echo ready && sleep 600")
	f.waitState("p10-trap", 30*time.Second, mezzo.TaskRunning)
	stdout, _ := executor.TaskOutputFiles("p10-trap")
	base := "/sandbox/" + ag.id + "/" + f.id + "/command-p10-trap/"
	eventually(t, "the trap laid", 15*time.Second, func() bool {
		code, body := c.httpGet(admin, base+stdout)
		return code == 200 && strings.Contains(body, "ready")
	})
	pid := ag.Cmd.Process.Pid
	threads0, fds0 := procCounts(t, pid)
	for _, name := range []string{"pipe", "pipelink", "zero", "sub"} {
		codes := durableGetMany(c, admin, base+name, 200, 20)
		if codes[http.StatusForbidden] == 0 || codes[http.StatusForbidden]+codes[http.StatusServiceUnavailable] != 200 {
			t.Errorf("200 GETs of %s: answers %v, want all refused (403, or 503 when the agent is busy)", name, codes)
		}
	}
	if code, body := c.httpGet(admin, base+"pipe"); code != http.StatusForbidden || !strings.Contains(body, "named pipe") {
		t.Errorf("GET pipe: %d %q, want 403 naming a named pipe", code, body)
	}
	eventually(t, "the agent's threads and descriptors back", 15*time.Second, func() bool {
		threads, fds := procCounts(t, pid)
		return threads <= threads0+12 && fds <= fds0+4
	})
	threads, fds := procCounts(t, pid)
	t.Logf("agent threads %d → %d, descriptors %d → %d", threads0, threads, fds0, fds)

	f.run("p10-after", "cpus:0.1;mem:32", "echo still launching")
	if end := f.waitState("p10-after", 30*time.Second, mezzo.TaskFinished, mezzo.TaskFailed, mezzo.TaskLost, mezzo.TaskError); end.State != mezzo.TaskFinished {
		t.Errorf("a task after the flood ended %v %q", end.State, end.Message)
	}
}
