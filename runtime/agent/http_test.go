package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mezzo-cluster/mezzo"
)

func sandboxAgent(t *testing.T) (*Agent, string) {
	t.Helper()
	dir := t.TempDir()
	a, err := New(Config{Master: "127.0.0.1:1", WorkDir: dir, Resources: mezzo.MustParseResources("cpus:1;mem:64"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.store.close() })
	fw := filepath.Join(dir, "sandboxes", "f-fw")
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(fw, "e-ex-1", "stdout"), "old run\n")
	write(filepath.Join(fw, "e-ex-12", "stdout"), "line 1\nline 2\nlast line\n")
	write(filepath.Join(fw, "e-ex-b-40", "stdout"), "another executor\n")
	write(filepath.Join(dir, "secret"), "agent secret\n")
	if err := os.Symlink(filepath.Join(dir, "secret"), filepath.Join(fw, "e-ex-12", "link")); err != nil {
		t.Fatal(err)
	}
	return a, dir
}

func TestSandboxEndpoint(t *testing.T) {
	a, _ := sandboxAgent(t)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"/sandbox/fw/ex/stdout", 200, "line 1\nline 2\nlast line\n"}, // the latest sandbox, not e-ex-1 or e-ex-b-40
		{"/sandbox/fw/ex/stdout?tail=10", 200, "last line\n"},
		{"/sandbox/fw/ex-b/stdout", 200, "another executor\n"},
		{"/sandbox/fw/ex/stdout?tail=-1", 400, "tail"},
		{"/sandbox/fw/ex/missing", 404, "missing"},
		{"/sandbox/fw/nobody/stdout", 404, "no sandbox"},
		{"/sandbox/fw/ex/..%2F..%2F..%2Fsecret", 400, "not a plain file name"},
		{"/sandbox/fw/ex/%2E%2E", 400, "not a plain file name"},
		{"/sandbox/..%2F..%2F/ex/stdout", 400, "not a plain file name"},
		{"/sandbox/fw/ex/link", 403, ""}, // a symlink out of the sandbox
	} {
		code, body := get(c.path)
		if code != c.code || !strings.Contains(body, c.body) || strings.Contains(body, "agent secret") {
			t.Errorf("GET %s: %d %q, want %d containing %q", c.path, code, body, c.code, c.body)
		}
	}
	// Paths the mux cleans (literal ..) never reach the handler's files.
	for _, p := range []string{"/sandbox/fw/ex/../../../secret", "/sandbox/fw/../../secret/x"} {
		if code, body := get(p); strings.Contains(body, "agent secret") || code == 200 {
			t.Errorf("GET %s: %d %q; must not serve files outside the sandbox", p, code, body)
		}
	}
}

func TestAgentMetrics(t *testing.T) {
	a, _ := sandboxAgent(t)
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`mezzo_agent_resource_capacity{resource="cpus"} 1`, `mezzo_agent_resource_capacity{resource="mem"} 64`,
		"mezzo_agent_registered 0", "mezzo_agent_executors 0", "mezzo_agent_status_updates_pending_ack 0"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
