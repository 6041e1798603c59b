package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// StartHTTP serves the master's HTTP endpoints (see Handler) on addr
// ("127.0.0.1:0" picks a port) until the master stops, and returns the
// bound address.
func (m *Master) StartHTTP(addr string) (string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("master: http listen on %s: %w", addr, err)
	}
	lis = m.cfg.HTTP.listener(security.LimitListener(lis, m.cfg.MaxConnections))
	srv := security.NewHTTPServer(m.Handler(), m.cfg.HandshakeTimeout)
	go func() { _ = srv.Serve(lis) }()
	go func() {
		<-m.loopDone
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	m.log.Info("http serving", "listen", lis.Addr().String())
	return lis.Addr().String(), nil
}

// Handler is the master's HTTP API and UI:
//
//	GET /metrics                     Prometheus text format
//	GET /health                      {"status":"ok",...}; 503 once stopped
//	GET /state                       summary, roles, frameworks, agents, tasks
//	GET /frameworks                  frameworks with their allocation and stats
//	GET /agents?offset=&limit=       agents, paged
//	GET /tasks?framework=&agent=&state=&offset=&limit=
//	GET /sandbox/{agent}/{framework}/{executor}/{file}?tail=N
//	                                 proxied to the agent's HTTP server
//	GET /ui/...                      the web UI
//
//	POST /api/v1/tasks/{id}/kill?framework=
//	POST /api/v1/agents/{id}/drain?deadline=
//	POST /api/v1/agents/{id}/undrain
//	                                 operator actions (operator.go)
//
// All reads come from the state view (see View), never from the loop's
// live data. The first call starts sampling framework shares for the UI.
func (m *Master) Handler() http.Handler {
	m.obs.httpOnce.Do(func() { go m.sampleShares(shareInterval) })
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Metrics(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health", m.serveHealth)
	mux.HandleFunc("GET /state", m.serveState)
	mux.HandleFunc("GET /frameworks", m.serveFrameworks)
	mux.HandleFunc("GET /agents", m.serveAgents)
	mux.HandleFunc("GET /tasks", m.serveTasks)
	mux.HandleFunc("GET /sandbox/{agent}/{framework}/{executor}/{file}", m.serveSandbox)
	m.registerOperator(mux)
	m.registerUI(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	return m.guardHTTP(mux)
}

// httpError writes a JSON error with its status.
func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		httpError(w, http.StatusInternalServerError, "encode: %v", err)
	}
}

func (m *Master) view(w http.ResponseWriter, r *http.Request) (*View, bool) {
	v, err := m.View(r.Context())
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "%v", err)
		return nil, false
	}
	return v, true
}

// JSON shapes. Resources are maps of scalar name to quantity (cpus in
// cores, mem and disk in megabytes); port ranges are left out.

// StateJSON is the body of GET /state.
type StateJSON struct {
	MasterID   string          `json:"master_id"`
	Policy     string          `json:"policy"`
	Leader     bool            `json:"leader"`
	Time       time.Time       `json:"time"`
	Summary    SummaryJSON     `json:"summary"`
	Roles      []RoleJSON      `json:"roles"`
	Frameworks []FrameworkJSON `json:"frameworks"`
	Agents     []AgentJSON     `json:"agents"`
	Tasks      []TaskJSON      `json:"tasks"`
}

// SummaryJSON is the cluster overview.
type SummaryJSON struct {
	Resources          ResourcesJSON  `json:"resources"`
	AgentsActive       int            `json:"agents_active"`
	AgentsUnreachable  int            `json:"agents_unreachable"`
	AgentsDraining     int            `json:"agents_draining"`
	FrameworksActive   int            `json:"frameworks_active"`
	FrameworksInactive int            `json:"frameworks_inactive"`
	FrameworksRemoved  int            `json:"frameworks_removed"`
	OffersOutstanding  int            `json:"offers_outstanding"`
	LiveTasks          map[string]int `json:"live_tasks"`
	EndedTasks         map[string]int `json:"ended_tasks"`
	PendingAcks        int            `json:"status_updates_pending_ack"`
}

// ResourcesJSON splits the cluster's resources.
type ResourcesJSON struct {
	Total   map[string]float64 `json:"total"`
	Used    map[string]float64 `json:"used"`
	Offered map[string]float64 `json:"offered"`
	Free    map[string]float64 `json:"free"`
}

// RoleJSON is one role's allocation.
type RoleJSON struct {
	Name          string             `json:"name"`
	Frameworks    int                `json:"frameworks"`
	Allocated     map[string]float64 `json:"allocated"`
	DominantShare float64            `json:"dominant_share"`
}

// FrameworkJSON is one framework.
type FrameworkJSON struct {
	ID             string             `json:"id"`
	Name           string             `json:"name"`
	Role           string             `json:"role"`
	Connected      bool               `json:"connected"`
	Suppressed     bool               `json:"suppressed"`
	Removed        bool               `json:"removed"`
	DominantShare  float64            `json:"dominant_share"`
	Used           map[string]float64 `json:"used"`
	Offered        map[string]float64 `json:"offered"`
	Offers         int                `json:"offers_outstanding"`
	LiveTasks      int                `json:"live_tasks"`
	OffersReceived int                `json:"offers_received"`
	TasksLaunched  int                `json:"tasks_launched"`
	TasksEnded     map[string]int     `json:"tasks_ended"`
	TaskErrors     int                `json:"task_errors"`
	CPUSeconds     float64            `json:"cpu_seconds"`
}

// AgentJSON is one agent.
type AgentJSON struct {
	ID         string             `json:"id"`
	Hostname   string             `json:"hostname"`
	Connected  bool               `json:"connected"`
	HTTP       string             `json:"http,omitempty"`
	Attributes map[string]string  `json:"attributes,omitempty"`
	Total      map[string]float64 `json:"total"`
	Used       map[string]float64 `json:"used"`
	Offered    map[string]float64 `json:"offered"`
	Free       map[string]float64 `json:"free"`
	LiveTasks  int                `json:"live_tasks"`
	// Draining: under maintenance (no offers); DrainDeadline when given.
	Draining      bool       `json:"draining,omitempty"`
	DrainDeadline *time.Time `json:"drain_deadline,omitempty"`
}

// TaskJSON is one task.
type TaskJSON struct {
	ID        string             `json:"id"`
	Name      string             `json:"name,omitempty"`
	Framework string             `json:"framework"`
	Agent     string             `json:"agent"`
	Executor  string             `json:"executor"`
	State     string             `json:"state"`
	Reason    string             `json:"reason,omitempty"`
	Message   string             `json:"message,omitempty"`
	Updated   time.Time          `json:"updated"`
	Resources map[string]float64 `json:"resources"`
	// Sandbox is the master's path to the task's stdout ("" when its
	// agent has no HTTP server); swap the last element for stderr.
	Sandbox string `json:"sandbox,omitempty"`
}

func resJSON(r mezzo.Resources) map[string]float64 {
	out := map[string]float64{}
	for _, s := range r.Scalars() {
		out[s.Name] = s.Value()
	}
	return out
}

func summaryJSON(v *View) SummaryJSON {
	s := v.Summary
	t := v.Totals
	return SummaryJSON{
		Resources:    ResourcesJSON{Total: resJSON(t.Total), Used: resJSON(t.Used), Offered: resJSON(t.Offered), Free: resJSON(t.Free)},
		AgentsActive: s.AgentsActive, AgentsUnreachable: s.AgentsUnreachable, AgentsDraining: s.AgentsDraining,
		FrameworksActive: s.FrameworksActive, FrameworksInactive: s.FrameworksInactive, FrameworksRemoved: s.FrameworksRemoved,
		OffersOutstanding: t.Offers, LiveTasks: s.LiveTasks, EndedTasks: s.EndedTasks, PendingAcks: s.PendingAcks,
	}
}

func frameworkJSON(f FrameworkSnapshot) FrameworkJSON {
	return FrameworkJSON{
		ID: string(f.ID), Name: f.Name, Role: f.Alloc.Role, Connected: f.Connected, Suppressed: f.Alloc.Suppressed, Removed: f.Removed,
		DominantShare: f.Alloc.DominantShare, Used: resJSON(f.Alloc.Used), Offered: resJSON(f.Alloc.Offered), Offers: f.Alloc.Offers,
		LiveTasks: f.LiveTasks, OffersReceived: f.Stats.OffersReceived, TasksLaunched: f.Stats.TasksLaunched,
		TasksEnded: f.Stats.TasksByState, TaskErrors: f.Stats.TaskErrors, CPUSeconds: f.Stats.CPUSeconds,
	}
}

func agentJSON(a AgentView) AgentJSON {
	out := AgentJSON{ID: string(a.ID), Hostname: a.Hostname, Connected: a.Connected, HTTP: a.HTTPAddr(),
		Total: resJSON(a.Alloc.Total), Used: resJSON(a.Alloc.Used), Offered: resJSON(a.Alloc.Offered), Free: resJSON(a.Alloc.Available),
		LiveTasks: a.LiveTasks}
	if a.Draining {
		out.Draining = true
		if !a.DrainDeadline.IsZero() {
			d := a.DrainDeadline
			out.DrainDeadline = &d
		}
	}
	if len(a.Attributes) > 0 {
		out.Attributes = map[string]string{}
		for _, at := range a.Attributes {
			out.Attributes[at.Name] = at.Value
		}
	}
	return out
}

func taskJSON(v *View, t TaskView) TaskJSON {
	out := TaskJSON{ID: string(t.ID), Name: t.Name, Framework: string(t.Framework), Agent: string(t.Agent), Executor: string(t.Executor),
		State: t.State.String(), Reason: string(t.Reason), Message: t.Message, Updated: t.Updated, Resources: resJSON(t.Resources)}
	if a, ok := v.Agent(t.Agent); ok && a.HTTPAddr() != "" {
		out.Sandbox = sandboxPath(t, "stdout")
	}
	return out
}

// SandboxFiles names where a task's output lives in its executor's
// sandbox: a task run by its own command executor writes
// executor.TaskOutputFiles in the sandbox of executor "command-<id>" (the
// agent's and the command executor's conventions); a task of a custom
// executor shares the executor's stdout and stderr.
func SandboxFiles(t TaskView) (ex mezzo.ExecutorID, stdout, stderr string) {
	if t.Executor != "" {
		return t.Executor, "stdout", "stderr"
	}
	stdout, stderr = executor.TaskOutputFiles(t.ID)
	return mezzo.ExecutorID("command-" + string(t.ID)), stdout, stderr
}

// sandboxPath is the master's proxy path for a task's "stdout" or
// "stderr".
func sandboxPath(t TaskView, which string) string {
	ex, out, errf := SandboxFiles(t)
	f := out
	if which == "stderr" {
		f = errf
	}
	return "/sandbox/" + url.PathEscape(string(t.Agent)) + "/" + url.PathEscape(string(t.Framework)) + "/" + url.PathEscape(string(ex)) + "/" + url.PathEscape(f)
}

func (m *Master) serveHealth(w http.ResponseWriter, r *http.Request) {
	select {
	case <-m.loopDone:
		httpError(w, http.StatusServiceUnavailable, "master %s is stopped", m.cfg.MasterID)
		return
	default:
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	v, err := m.View(ctx)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "master loop does not answer: %v", err)
		return
	}
	writeJSON(w, map[string]any{"status": "ok", "master_id": v.MasterID, "leader": m.Leader(), "view_age_seconds": time.Since(v.Time).Seconds()})
}

// encodedState is the view's /state body, encoded once per view: at
// 10,000 agents the encoding, not the copying, is what costs.
func (v *View) encodedState() ([]byte, error) {
	v.encOnce.Do(func() {
		s := StateJSON{MasterID: v.MasterID, Policy: v.Policy, Leader: v.Leader, Time: v.Time, Summary: summaryJSON(v),
			Roles: make([]RoleJSON, 0, len(v.Roles)), Frameworks: make([]FrameworkJSON, 0, len(v.Frameworks)),
			Agents: make([]AgentJSON, 0, len(v.Agents)), Tasks: make([]TaskJSON, 0, len(v.Tasks))}
		for _, r := range v.Roles {
			s.Roles = append(s.Roles, RoleJSON{Name: r.Name, Frameworks: r.Frameworks, Allocated: resJSON(r.Allocated), DominantShare: r.DominantShare})
		}
		for _, f := range v.Frameworks {
			s.Frameworks = append(s.Frameworks, frameworkJSON(f))
		}
		for _, a := range v.Agents {
			s.Agents = append(s.Agents, agentJSON(a))
		}
		for _, t := range v.Tasks {
			s.Tasks = append(s.Tasks, taskJSON(v, t))
		}
		v.enc, v.encErr = json.Marshal(s)
	})
	return v.enc, v.encErr
}

func (m *Master) serveState(w http.ResponseWriter, r *http.Request) {
	v, ok := m.view(w, r)
	if !ok {
		return
	}
	b, err := v.encodedState()
	if err != nil {
		httpError(w, http.StatusInternalServerError, "encode state: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func (m *Master) serveFrameworks(w http.ResponseWriter, r *http.Request) {
	v, ok := m.view(w, r)
	if !ok {
		return
	}
	out := make([]FrameworkJSON, 0, len(v.Frameworks))
	for _, f := range v.Frameworks {
		out = append(out, frameworkJSON(f))
	}
	writeJSON(w, map[string]any{"frameworks": out})
}

// page reads offset and limit (default: everything) from the query.
func page(q url.Values, n int) (lo, hi int, err error) {
	lo, hi = 0, n
	if s := q.Get("offset"); s != "" {
		if lo, err = strconv.Atoi(s); err != nil || lo < 0 {
			return 0, 0, fmt.Errorf("offset %q: want a whole number ≥ 0", s)
		}
	}
	if s := q.Get("limit"); s != "" {
		l, err := strconv.Atoi(s)
		if err != nil || l < 0 {
			return 0, 0, fmt.Errorf("limit %q: want a whole number ≥ 0", s)
		}
		hi = lo + l
	}
	return min(lo, n), min(hi, n), nil
}

func (m *Master) serveAgents(w http.ResponseWriter, r *http.Request) {
	v, ok := m.view(w, r)
	if !ok {
		return
	}
	lo, hi, err := page(r.URL.Query(), len(v.Agents))
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	out := make([]AgentJSON, 0, hi-lo)
	for _, a := range v.Agents[lo:hi] {
		out = append(out, agentJSON(a))
	}
	writeJSON(w, map[string]any{"total": len(v.Agents), "offset": lo, "agents": out})
}

// taskFilter reads framework=, agent= and state= (a state name such as
// TASK_RUNNING or running, or "live"/"ended").
type taskFilter struct {
	fw    mezzo.FrameworkID
	agent mezzo.AgentID
	state string // "", "live", "ended", or a state's name
}

func parseTaskFilter(q url.Values) (taskFilter, error) {
	f := taskFilter{fw: mezzo.FrameworkID(q.Get("framework")), agent: mezzo.AgentID(q.Get("agent"))}
	switch s := q.Get("state"); s {
	case "", "live", "ended":
		f.state = s
	default:
		st, err := mezzo.ParseTaskState(s)
		if err != nil {
			return f, fmt.Errorf("state %q: want a task state such as TASK_RUNNING or running, or live, or ended", s)
		}
		f.state = st.String()
	}
	return f, nil
}

func (f taskFilter) match(t TaskView) bool {
	switch {
	case f.fw != "" && t.Framework != f.fw, f.agent != "" && t.Agent != f.agent:
		return false
	case f.state == "live":
		return !t.State.Terminal()
	case f.state == "ended":
		return t.State.Terminal()
	case f.state != "":
		return t.State.String() == f.state
	}
	return true
}

func (f taskFilter) apply(v *View) []TaskView {
	var out []TaskView
	for _, t := range v.Tasks {
		if f.match(t) {
			out = append(out, t)
		}
	}
	return out
}

func (m *Master) serveTasks(w http.ResponseWriter, r *http.Request) {
	v, ok := m.view(w, r)
	if !ok {
		return
	}
	f, err := parseTaskFilter(r.URL.Query())
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	tasks := f.apply(v)
	lo, hi, err := page(r.URL.Query(), len(tasks))
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	out := make([]TaskJSON, 0, hi-lo)
	for _, t := range tasks[lo:hi] {
		out = append(out, taskJSON(v, t))
	}
	writeJSON(w, map[string]any{"total": len(tasks), "offset": lo, "tasks": out})
}

var sandboxClient = &http.Client{Timeout: 5 * time.Second}

// errNoSandbox says the agent cannot serve files.
var errNoSandbox = errors.New("the agent has no HTTP server (start it with --http)")

// fetchSandbox reads a file tail from an agent's sandbox endpoint.
func (m *Master) fetchSandbox(ctx context.Context, v *View, agent mezzo.AgentID, fw mezzo.FrameworkID, ex mezzo.ExecutorID, file string, tail int) (int, []byte, error) {
	if code, err := m.mayReadSandbox(ctx, v, fw); err != nil {
		return code, nil, err
	}
	a, ok := v.Agent(agent)
	if !ok {
		return http.StatusNotFound, nil, fmt.Errorf("agent %s is not registered", agent)
	}
	addr := a.HTTPAddr()
	if addr == "" {
		return http.StatusNotFound, nil, errNoSandbox
	}
	u := m.cfg.HTTP.agentURL(addr) + "/sandbox/" + url.PathEscape(string(fw)) + "/" + url.PathEscape(string(ex)) + "/" + url.PathEscape(file) + "?tail=" + strconv.Itoa(tail)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return http.StatusBadRequest, nil, err
	}
	resp, err := m.cfg.HTTP.agentClient.Do(req)
	if err != nil {
		return http.StatusBadGateway, nil, fmt.Errorf("agent %s at %s: %v", agent, addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTail+4096))
	if err != nil {
		return http.StatusBadGateway, nil, fmt.Errorf("agent %s at %s: %v", agent, addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, fmt.Errorf("agent %s: %s", agent, strings.TrimSpace(string(b)))
	}
	return http.StatusOK, b, nil
}

// maxTail bounds a tail in bytes; DefaultTail is the default.
const (
	maxTail     = 1 << 20
	defaultTail = 64 << 10
)

func parseTail(s string) (int, error) {
	if s == "" {
		return defaultTail, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("tail %q: want a byte count ≥ 0", s)
	}
	return min(n, maxTail), nil
}

func (m *Master) serveSandbox(w http.ResponseWriter, r *http.Request) {
	v, ok := m.view(w, r)
	if !ok {
		return
	}
	tail, err := parseTail(r.URL.Query().Get("tail"))
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	code, b, err := m.fetchSandbox(r.Context(), v, mezzo.AgentID(r.PathValue("agent")), mezzo.FrameworkID(r.PathValue("framework")),
		mezzo.ExecutorID(r.PathValue("executor")), r.PathValue("file"), tail)
	if err != nil {
		httpError(w, code, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(b)
}

// Share samples for the UI's "shares over time".
const (
	shareInterval = 2 * time.Second
	shareSamples  = 300 // ten minutes at shareInterval
)

// ShareSample is every framework's dominant share at one time.
type ShareSample struct {
	Time   time.Time
	Shares map[mezzo.FrameworkID]float64
}

// shareRing keeps the last samples; safe for concurrent use.
type shareRing struct {
	mu   sync.Mutex
	buf  []ShareSample
	next int
	full bool
}

func newShareRing(n int) *shareRing { return &shareRing{buf: make([]ShareSample, n)} }

func (r *shareRing) add(s ShareSample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// samples returns the samples, oldest first.
func (r *shareRing) samples() []ShareSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]ShareSample(nil), r.buf[:r.next]...)
	}
	return append(append([]ShareSample(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// ShareHistory returns the sampled shares, oldest first (empty until
// Handler has been called: sampling serves the UI).
func (m *Master) ShareHistory() []ShareSample {
	return m.obs.shares.samples()
}

// sampleShares records shares every interval until the master stops. A
// sample costs the loop one pass over the frameworks, not the agents.
func (m *Master) sampleShares(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var s ShareSample
		err := m.call(context.Background(), func() error {
			s = ShareSample{Time: time.Now(), Shares: map[mezzo.FrameworkID]float64{}}
			for _, fs := range m.alloc.Frameworks() {
				s.Shares[fs.ID] = fs.DominantShare
			}
			return nil
		})
		if err != nil {
			return
		}
		m.obs.shares.add(s)
		select {
		case <-t.C:
		case <-m.loopDone:
			return
		}
	}
}
