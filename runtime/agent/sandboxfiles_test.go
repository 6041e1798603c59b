package agent

import (
	"context"
	"github.com/mezzo-cluster/mezzo/runtime/internal/proctest"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A task owns its sandbox and may leave anything there. A FIFO (opening it
// to read would wait for a writer), a symbolic link to one or to a device,
// a device, a directory: each is refused at once, unread, and 200
// requests for each leave the agent's threads bounded and its descriptors
// where they were (a FIFO used to pin a thread and a descriptor per
// request, for good).
func TestSandboxRefusesWhatIsNotARegularFile(t *testing.T) {
	a, dir := sandboxAgent(t)
	box := filepath.Join(dir, "sandboxes", "f-fw", "e-ex-12")
	if err := syscall.Mkfifo(filepath.Join(box, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"pipelink": "pipe", "zero": "/dev/zero", "stdoutlink": "stdout"} {
		if err := os.Symlink(target, filepath.Join(box, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(box, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	type probe struct{ name, kind string }
	probes := []probe{{"pipe", "named pipe"}, {"pipelink", "symbolic link"}, {"zero", "symbolic link"},
		{"stdoutlink", "symbolic link"}, {"sub", "directory"}}
	if os.Geteuid() == 0 {
		if err := unix.Mknod(filepath.Join(box, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err == nil {
			probes = append(probes, probe{"null", "device"})
		}
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	get := func(path string) (int, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	get("/sandbox/fw/ex/stdout") // warm up the connection machinery
	client.CloseIdleConnections()
	threads0, fds0 := procCounts(t, 0)

	for _, p := range probes {
		name, kind := p.name, p.kind
		var wg sync.WaitGroup
		var mu sync.Mutex
		refused, busy := 0, 0
		for range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body, err := get("/sandbox/fw/ex/" + name)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("GET %s: %v", name, err)
				case code == http.StatusForbidden && strings.Contains(body, kind):
					refused++
				case code == http.StatusServiceUnavailable:
					busy++ // more at once than the agent serves
				default:
					t.Errorf("GET %s: %d %q, want 403 naming %s", name, code, body, kind)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		if refused == 0 {
			t.Errorf("GET %s: none of 200 answered 403 (%d busy)", name, busy)
		}
	}
	if code, body, err := get("/sandbox/fw/ex/stdout"); err != nil || code != 200 || !strings.Contains(body, "last line") {
		t.Errorf("a regular file after all that: %d %q %v", code, body, err)
	}
	client.CloseIdleConnections()
	// Go keeps the threads it made, so they are bounded, not given back;
	// descriptors come back.
	waitFor(t, func() bool {
		threads, fds := procCounts(t, 0)
		return threads <= threads0+maxSandboxReads && fds <= fds0+2
	})
}

// Requests beyond the bound are answered 503 at once, with Retry-After.
func TestSandboxRequestsAreBounded(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := limitConcurrency(2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	done := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(srv.URL)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	<-entered
	<-entered
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third request at once: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(release)
	for range 2 {
		if code := <-done; code != 200 {
			t.Errorf("a request within the bound: %d", code)
		}
	}
}

// procCounts reads process pid's (0: this one's) threads and descriptors.
func procCounts(t *testing.T, pid int) (threads, fds int) {
	t.Helper()
	threads, fds, err := proctest.Counts(pid)
	if err != nil {
		t.Fatal(err)
	}
	return threads, fds
}
