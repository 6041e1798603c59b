package agent

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// TestTaskRunsAsItsUser: an agent running as root starts an executor as
// the user the master put in its command (nobody), in a sandbox that user
// owns; the executor's `id -u` in its stdout proves it.
func TestTaskRunsAsItsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody on this machine")
	}
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	// The sandbox's parents must be reachable by the task's user (as a
	// real agent's work dir must be).
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	startAgent(t, m, Config{WorkDir: dir})
	<-m.subscribes
	ex := &mezzo.ExecutorInfo{ID: "whoami", Command: &mezzo.CommandInfo{Value: "id -u; touch made-here", Shell: true, User: "nobody"}}
	m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: "t", Executor: ex, Resources: mezzo.MustParseResources("cpus:0.1;mem:32")})
	// The executor exits without subscribing, so the task fails; what
	// matters is who it ran as.
	if s := m.nextUpdate(t, "t"); !s.State.Terminal() {
		t.Fatalf("update %v, want the task to end", s.State)
	}
	deadline := time.Now().Add(5 * time.Second)
	var out []byte
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "sandboxes", "*", "e-whoami-*", "stdout"))
		if len(files) == 1 {
			out, _ = os.ReadFile(files[0])
		}
		if len(out) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := strings.TrimSpace(string(out)); got != nobody.Uid {
		t.Fatalf("executor ran as uid %q, want nobody's %s", got, nobody.Uid)
	}
	made, _ := filepath.Glob(filepath.Join(dir, "sandboxes", "*", "e-whoami-*", "made-here"))
	if len(made) != 1 {
		t.Errorf("the executor could not write in its sandbox")
	}
}

func TestExecutorUser(t *testing.T) {
	cmd := func(u string) *mezzo.CommandInfo { return &mezzo.CommandInfo{Value: "x", User: u} }
	fw := mezzo.FrameworkInfo{User: "fwuser"}
	for _, c := range []struct {
		info  mezzo.ExecutorInfo
		first mezzo.TaskInfo
		want  string
	}{
		{mezzo.ExecutorInfo{Command: cmd("exec")}, mezzo.TaskInfo{Command: cmd("task")}, "exec"},
		{mezzo.ExecutorInfo{Kind: CommandKind}, mezzo.TaskInfo{Command: cmd("task")}, "task"},
		{mezzo.ExecutorInfo{Kind: CommandKind}, mezzo.TaskInfo{Command: cmd("")}, "fwuser"},
		{mezzo.ExecutorInfo{Kind: "pi"}, mezzo.TaskInfo{}, "fwuser"},
	} {
		if got := executorUser(c.info, c.first, fw); got != c.want {
			t.Errorf("executorUser(%+v, %+v) = %q, want %q", c.info, c.first, got, c.want)
		}
	}
}
