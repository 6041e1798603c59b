package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// Handler is the agent's HTTP server:
//
//	GET /metrics                                  Prometheus text format
//	GET /sandbox/{framework}/{executor}/{file}?tail=N
//	                                              the last N bytes (default 64 KiB)
//	                                              of a file in the executor's latest sandbox
//	GET /health                                   {"status":"ok","agent_id":...}
//
// The sandbox endpoint takes a single file name and serves only a regular
// file of that name in the sandbox directory, so nothing outside the
// sandbox can be read ("..", absolute paths and symbolic links are
// refused), and a FIFO or a device there cannot hold the agent
// (openSandboxFile); at most maxSandboxReads requests are served at once,
// more are answered 503. HTTPServer bounds each request's time. With
// Config.HTTPAuth only Config.SandboxReaders may read sandboxes, and only
// with a certificate of the master or client role when HTTPAuth.Roles is
// nil; /metrics and /health stay open for scrapers and probes (they name
// no files). Each call builds a new Prometheus registry; call it once.
func (a *Agent) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&agentCollector{a: a})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	var sandbox http.Handler = limitConcurrency(maxSandboxReads, http.HandlerFunc(a.serveSandbox))
	if auth := a.cfg.HTTPAuth; auth != nil {
		if auth.Roles == nil {
			// The master reads sandboxes, and operators listed in
			// SandboxReaders may; another agent's certificate may not,
			// whatever its principal.
			c := *auth
			c.Roles = []security.Role{security.RoleMaster, security.RoleClient}
			auth = &c
		}
		sandbox = security.Guard(auth, security.OnlyPrincipals(security.ReadSandbox, a.cfg.SandboxReaders...), sandbox)
	}
	mux.Handle("GET /sandbox/{framework}/{executor}/{file}", sandbox)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"status\":\"ok\",\"agent_id\":%q}\n", a.ID())
	})
	return mux
}

// HTTPServer is an http.Server for Handler that bounds each request's
// time, so that a slow or stalled client cannot hold a connection, a
// goroutine and a descriptor of the agent indefinitely: handshakeTimeout
// (0: security.DefaultHandshakeTimeout, 10 s) for the TLS handshake and the
// headers, 30 s the whole request, 60 s to take the answer (a tail is at
// most 1 MiB), 2 min idle between requests (security.NewHTTPServer).
func (a *Agent) HTTPServer(handshakeTimeout time.Duration) *http.Server {
	srv := security.NewHTTPServer(a.Handler(), handshakeTimeout)
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, time.Minute
	return srv
}

const (
	defaultTail = 64 << 10
	maxTail     = 1 << 20
)

// errBadName is returned for a path element that is not a plain name.
var errBadName = errors.New("not a plain file name")

// plainName accepts one path element: no separators, not "." or "..".
func plainName(s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
		return errBadName
	}
	return nil
}

// latestSandbox finds the newest sandbox of an executor: executors are
// numbered per agent run, e-<executor>-<n>, and a task relaunched under the
// same executor ID gets a new one.
func (a *Agent) latestSandbox(fw mezzo.FrameworkID, ex mezzo.ExecutorID) (string, error) {
	if a.cfg.WorkDir == "" {
		return "", fs.ErrNotExist
	}
	dir := filepath.Join(a.cfg.WorkDir, sandboxesDir, frameworkDirName(fw))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	prefix := executorDirPrefix(ex)
	best, bestN := "", -1
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 {
			continue // another executor whose ID starts like this one
		}
		if n > bestN {
			best, bestN = e.Name(), n
		}
	}
	if best == "" {
		return "", fs.ErrNotExist
	}
	return filepath.Join(dir, best), nil
}

// openSandboxFile opens name, a plain file name, in the sandbox dir for
// reading, and only if it is a regular file: a task owns its sandbox and
// may put anything there. The open neither follows a symbolic link
// (O_NOFOLLOW: a link could lead out of the sandbox) nor waits (O_NONBLOCK:
// opening a FIFO to read waits for a writer, and would hold a thread and a
// descriptor of the agent for as long as the task likes), and the type is
// checked on the opened descriptor, so swapping the file in between gains
// nothing; a FIFO, a device or a directory is closed unread.
func openSandboxFile(dir, name string) (*os.File, fs.FileInfo, error) {
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: filepath.Base(dir), Err: err}
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	_ = unix.Close(dfd)
	if errors.Is(err, unix.ELOOP) {
		return nil, nil, errors.New("a symbolic link; not served")
	}
	if err != nil {
		return nil, nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (%s); not served", fileKind(st.Mode()))
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}

// maxSandboxReads bounds the sandbox requests an agent serves at once;
// more are answered 503 at once. Each holds a descriptor and a buffer,
// and the agent's work (launches, status updates) must not starve behind
// a flood of reads.
const maxSandboxReads = 32

// limitConcurrency answers 503 (Retry-After: 1) to requests beyond n at
// once.
func limitConcurrency(n int, h http.Handler) http.Handler {
	sem := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("the agent is serving %d sandbox requests already; retry", n), http.StatusServiceUnavailable)
		}
	})
}

func (a *Agent) serveSandbox(w http.ResponseWriter, r *http.Request) {
	fw, ex, file := r.PathValue("framework"), r.PathValue("executor"), r.PathValue("file")
	for _, p := range []struct{ what, v string }{{"framework", fw}, {"executor", ex}, {"file", file}} {
		if err := plainName(p.v); err != nil {
			http.Error(w, fmt.Sprintf("%s %q: %v", p.what, p.v, err), http.StatusBadRequest)
			return
		}
	}
	tail := defaultTail
	if s := r.URL.Query().Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			http.Error(w, fmt.Sprintf("tail %q: want a byte count ≥ 0", s), http.StatusBadRequest)
			return
		}
		tail = min(n, maxTail)
	}
	dir, err := a.latestSandbox(mezzo.FrameworkID(fw), mezzo.ExecutorID(ex))
	if err != nil {
		http.Error(w, fmt.Sprintf("no sandbox for executor %q of framework %q on this agent", ex, fw), http.StatusNotFound)
		return
	}
	f, st, err := openSandboxFile(dir, file)
	if err != nil {
		code := http.StatusForbidden // a symbolic link, a FIFO, a device, a directory, unreadable
		if errors.Is(err, fs.ErrNotExist) {
			code = http.StatusNotFound
		}
		http.Error(w, fmt.Sprintf("file %q in the sandbox of executor %q: %v", file, ex, err), code)
		return
	}
	defer f.Close()
	if off := st.Size() - int64(tail); off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Mezzo-File-Size", strconv.FormatInt(st.Size(), 10))
	_, _ = io.Copy(w, io.LimitReader(f, int64(tail)))
}

// agentCollector reads the agent's state at scrape time.
type agentCollector struct{ a *Agent }

var (
	agentRegisteredDesc = prometheus.NewDesc("mezzo_agent_registered", "1 while the agent is registered with a master.", nil, nil)
	agentResourceDesc   = prometheus.NewDesc("mezzo_agent_resource_capacity", "Resources this agent offers (cpus in cores, mem and disk in megabytes).", []string{"resource"}, nil)
	agentTasksDesc      = prometheus.NewDesc("mezzo_agent_tasks", "Tasks the agent tracks, by state.", []string{"state"}, nil)
	agentExecutorsDesc  = prometheus.NewDesc("mezzo_agent_executors", "Executor processes running.", nil, nil)
	agentPendingDesc    = prometheus.NewDesc("mezzo_agent_status_updates_pending_ack", "Status updates stored and not yet acknowledged by their scheduler.", nil, nil)
	agentUnstoredDesc   = prometheus.NewDesc("mezzo_agent_status_records_unstored", "Status records (updates and acknowledgements) the disk refused, held in memory while storing them is retried.", nil, nil)
)

func (c *agentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{agentRegisteredDesc, agentResourceDesc, agentTasksDesc, agentExecutorsDesc, agentPendingDesc, agentUnstoredDesc} {
		ch <- d
	}
}

func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	a.mu.Lock()
	registered := 0.0
	if a.id != "" && a.session != "" {
		registered = 1
	}
	byState := map[string]int{}
	for _, t := range a.tasks {
		byState[t.state.String()]++
	}
	executors := 0
	for _, fw := range a.frameworks {
		executors += len(fw.executors)
	}
	a.mu.Unlock()

	a.store.mu.Lock()
	pending := 0
	for _, st := range a.store.streams {
		pending += len(st.queue)
	}
	a.store.mu.Unlock()
	unstored := a.store.unstoredCount()

	ch <- prometheus.MustNewConstMetric(agentRegisteredDesc, prometheus.GaugeValue, registered)
	for _, s := range a.cfg.Resources.Scalars() {
		ch <- prometheus.MustNewConstMetric(agentResourceDesc, prometheus.GaugeValue, s.Value(), s.Name)
	}
	for st, n := range byState {
		ch <- prometheus.MustNewConstMetric(agentTasksDesc, prometheus.GaugeValue, float64(n), st)
	}
	ch <- prometheus.MustNewConstMetric(agentExecutorsDesc, prometheus.GaugeValue, float64(executors))
	ch <- prometheus.MustNewConstMetric(agentPendingDesc, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(agentUnstoredDesc, prometheus.GaugeValue, float64(unstored))
}
