package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
)

// A task ID as long as a file name (Mesos accepts 255 bytes), which
// escaping makes longer still, gets a sandbox, a status file and output
// files, and its output is served under the names the master asks for.
func TestTaskWithALongIDRuns(t *testing.T) {
	m := startFakeMaster(t, true)
	a, _ := startAgent(t, m, Config{WorkDir: t.TempDir()})
	<-m.subscribes
	id := mezzo.TaskID(strings.Repeat("t", 200) + strings.Repeat("é", 25)) // 250 bytes, 350 escaped
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: id, Resources: mezzo.MustParseResources("cpus:0.1;mem:32"),
		Command: &mezzo.CommandInfo{Value: "echo long", Shell: true}})
	if s := m.nextUpdate(t, id); s.State != mezzo.TaskRunning {
		t.Fatalf("first update %v %q, want RUNNING", s.State, s.Message)
	}
	if s := m.nextUpdate(t, id); s.State != mezzo.TaskFinished {
		t.Fatalf("then %v %q, want FINISHED", s.State, s.Message)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	stdout, _ := executor.TaskOutputFiles(id)
	resp, err := http.Get(srv.URL + "/sandbox/fw/" + url.PathEscape("command-"+string(id)) + "/" + url.PathEscape(stdout))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "long\n" {
		t.Errorf("its stdout: %d %q", resp.StatusCode, b)
	}
}

// Long IDs get bounded names that no short ID can take.
func TestIDNames(t *testing.T) {
	short := strings.Repeat("a", 128)
	if n := executorDirPrefix(mezzo.ExecutorID(short)); n != "e-"+short+"-" {
		t.Errorf("a 128-byte ID is renamed: %q", n)
	}
	long1, long2 := strings.Repeat("é", 120), strings.Repeat("é", 120)+"x"
	n1, n2 := executorDirPrefix(mezzo.ExecutorID(long1)), executorDirPrefix(mezzo.ExecutorID(long2))
	if n1 == n2 || len(n1) > 200 || len(n2) > 200 || len(n1) <= 128 {
		t.Errorf("long IDs named %q (%d bytes) and %q (%d bytes)", n1, len(n1), n2, len(n2))
	}
	out, errf := executor.TaskOutputFiles(mezzo.TaskID(long1))
	if len(out) > 255 || len(errf) > 255 || out == errf {
		t.Errorf("output files %q, %q", out, errf)
	}
}
