package master

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// The UI is server-rendered HTML (html/template) with one small script for
// refreshing the overview and following a sandbox. There is no build step:
// nothing to install from npm, nothing generated to keep in sync, and every
// page is plain HTML that tests can read. Pages that list agents or tasks
// are paged on the server, so a 10,000-agent cluster costs the browser one
// page of rows, and nothing polls the full state.

//go:embed ui
var uiFiles embed.FS

// uiPageSize is how many agents or tasks one UI page lists.
const uiPageSize = 50

var uiTemplates = template.Must(template.New("ui").Funcs(template.FuncMap{
	"res":     formatRes,
	"pct":     func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"q":       url.QueryEscape,
	"ago":     func(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() },
	"stamp":   func(t time.Time) string { return t.Format("15:04:05.000") },
	"ratio":   func(a, b float64) float64 { return safeRatio(a, b) },
	"barpct":  func(a, b float64) string { return fmt.Sprintf("%.1f", 100*safeRatio(a, b)) },
	"state":   func(s mezzo.TaskState) string { return strings.TrimPrefix(s.String(), "TASK_") },
	"lower":   strings.ToLower,
	"sandbox": sandboxPath,
}).ParseFS(uiFiles, "ui/*.html"))

func safeRatio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func formatRes(r mezzo.Resources) string {
	if r.IsEmpty() {
		return "—"
	}
	var parts []string
	for _, s := range r.Scalars() {
		parts = append(parts, fmt.Sprintf("%s %s", s.Name, strconv.FormatFloat(s.Value(), 'f', -1, 64)))
	}
	return strings.Join(parts, ", ")
}

func (m *Master) registerUI(mux *http.ServeMux) {
	static, _ := fs.Sub(uiFiles, "ui")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /ui/{$}", m.uiOverview)
	mux.HandleFunc("GET /ui/agents", m.uiAgents)
	mux.HandleFunc("GET /ui/agent", m.uiAgent)
	mux.HandleFunc("GET /ui/tasks", m.uiTasks)
	mux.HandleFunc("GET /ui/sandbox", m.uiSandbox)
}

// pageData is what every page template gets.
type pageData struct {
	Title   string
	Nav     string
	Refresh int // seconds between refreshes of #main; 0 for none
	View    *View
	Body    any
}

func (m *Master) render(w http.ResponseWriter, name string, d pageData) {
	var b strings.Builder
	if err := uiTemplates.ExecuteTemplate(&b, name, d); err != nil {
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

func (m *Master) uiView(w http.ResponseWriter, r *http.Request) (*View, bool) {
	v, err := m.View(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return nil, false
	}
	return v, true
}

// resourceRow is one resource on the overview.
type resourceRow struct {
	Name                       string
	Total, Used, Offered, Idle float64
}

// frameworkRow is a framework on the overview with its share history.
type frameworkRow struct {
	FrameworkSnapshot
	Spark template.HTML
}

type overviewBody struct {
	Resources  []resourceRow
	Frameworks []frameworkRow
	Live       []stateCount
	Ended      []stateCount
	Samples    int
}

type stateCount struct {
	State string
	N     int
}

func stateCounts(m map[string]int) []stateCount {
	out := make([]stateCount, 0, len(m))
	for _, s := range sortedStrings(m) {
		out = append(out, stateCount{s, m[s]})
	}
	return out
}

func (m *Master) uiOverview(w http.ResponseWriter, r *http.Request) {
	v, ok := m.uiView(w, r)
	if !ok {
		return
	}
	t := v.Totals
	body := overviewBody{Live: stateCounts(v.Summary.LiveTasks), Ended: stateCounts(v.Summary.EndedTasks)}
	for _, s := range t.Total.Scalars() {
		body.Resources = append(body.Resources, resourceRow{Name: s.Name, Total: s.Value(),
			Used: t.Used.Get(s.Name), Offered: t.Offered.Get(s.Name), Idle: t.Free.Get(s.Name)})
	}
	hist := m.ShareHistory()
	body.Samples = len(hist)
	for _, f := range v.Frameworks {
		if f.Removed {
			continue
		}
		body.Frameworks = append(body.Frameworks, frameworkRow{FrameworkSnapshot: f, Spark: sparkline(hist, f.ID)})
	}
	m.render(w, "overview.html", pageData{Title: "Cluster", Nav: "overview", Refresh: 5, View: v, Body: body})
}

// sparkline draws a framework's share over the sampled window as an
// inline SVG; shares are 0..1.
func sparkline(hist []ShareSample, id mezzo.FrameworkID) template.HTML {
	const w, h = 160.0, 28.0
	var pts []string
	n := len(hist)
	for i, s := range hist {
		x := w
		if n > 1 {
			x = w * float64(i) / float64(n-1)
		}
		y := h - h*s.Shares[id]
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	// Only numbers go into the markup, so it is safe to mark as HTML.
	return template.HTML(fmt.Sprintf(`<svg class="spark" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="share over time"><polyline points="%s"/></svg>`,
		w, h, w, h, strings.Join(pts, " ")))
}

// paging is the page navigation of a listing.
type paging struct {
	Page, Pages, Total, From, To int
	Prev, Next                   string // URLs, "" at the ends
}

func pageOf(r *http.Request, total int) paging {
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pages := max(1, (total+uiPageSize-1)/uiPageSize)
	p = min(max(p, 1), pages)
	pg := paging{Page: p, Pages: pages, Total: total, From: (p - 1) * uiPageSize, To: min(p*uiPageSize, total)}
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	if p > 1 {
		pg.Prev = link(p - 1)
	}
	if p < pages {
		pg.Next = link(p + 1)
	}
	return pg
}

type agentsBody struct {
	Query  string
	Agents []AgentView
	Paging paging
}

func (m *Master) uiAgents(w http.ResponseWriter, r *http.Request) {
	v, ok := m.uiView(w, r)
	if !ok {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	agents := v.Agents
	if q != "" {
		agents = nil
		for _, a := range v.Agents {
			if strings.Contains(string(a.ID), q) || strings.Contains(a.Hostname, q) {
				agents = append(agents, a)
			}
		}
	}
	pg := pageOf(r, len(agents))
	m.render(w, "agents.html", pageData{Title: "Agents", Nav: "agents", View: v, Body: agentsBody{Query: q, Agents: agents[pg.From:pg.To], Paging: pg}})
}

type agentBody struct {
	Agent AgentView
	Tasks []TaskView
}

func (m *Master) uiAgent(w http.ResponseWriter, r *http.Request) {
	v, ok := m.uiView(w, r)
	if !ok {
		return
	}
	a, found := v.Agent(mezzo.AgentID(r.URL.Query().Get("id")))
	if !found {
		http.Error(w, fmt.Sprintf("agent %q is not registered", r.URL.Query().Get("id")), http.StatusNotFound)
		return
	}
	m.render(w, "agent.html", pageData{Title: "Agent " + string(a.ID), Nav: "agents", View: v, Body: agentBody{Agent: a, Tasks: v.AgentTasks(a.ID)}})
}

type tasksBody struct {
	Framework, Agent, State string
	Frameworks              []mezzo.FrameworkID
	Tasks                   []TaskView
	Paging                  paging
	Error                   string
}

func (m *Master) uiTasks(w http.ResponseWriter, r *http.Request) {
	v, ok := m.uiView(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	body := tasksBody{Framework: q.Get("framework"), Agent: q.Get("agent"), State: q.Get("state")}
	for _, f := range v.Frameworks {
		body.Frameworks = append(body.Frameworks, f.ID)
	}
	f, err := parseTaskFilter(q)
	var tasks []TaskView
	if err != nil {
		body.Error = err.Error()
	} else {
		tasks = f.apply(v)
	}
	// Live tasks first, then the most recently updated.
	sort.SliceStable(tasks, func(i, j int) bool {
		if ti, tj := tasks[i].State.Terminal(), tasks[j].State.Terminal(); ti != tj {
			return !ti
		}
		return tasks[i].Updated.After(tasks[j].Updated)
	})
	body.Paging = pageOf(r, len(tasks))
	body.Tasks = tasks[body.Paging.From:body.Paging.To]
	m.render(w, "tasks.html", pageData{Title: "Tasks", Nav: "tasks", View: v, Body: body})
}

type sandboxBody struct {
	Task           TaskView
	Executor       mezzo.ExecutorID
	Stdout, Stderr sandboxFile
	Tail           int
}

type sandboxFile struct {
	Name, Path, Text, Error string
}

func (m *Master) uiSandbox(w http.ResponseWriter, r *http.Request) {
	v, ok := m.uiView(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	t, found := v.Task(mezzo.FrameworkID(q.Get("framework")), mezzo.TaskID(q.Get("task")))
	if !found {
		http.Error(w, fmt.Sprintf("task %q of framework %q is not known to the master", q.Get("task"), q.Get("framework")), http.StatusNotFound)
		return
	}
	tail, err := parseTail(q.Get("tail"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ex, out, errf := SandboxFiles(t)
	body := sandboxBody{Task: t, Executor: ex, Tail: tail}
	for _, f := range []struct {
		dst  *sandboxFile
		name string
		kind string
	}{{&body.Stdout, out, "stdout"}, {&body.Stderr, errf, "stderr"}} {
		f.dst.Name, f.dst.Path = f.name, sandboxPath(t, f.kind)
		_, b, err := m.fetchSandbox(r.Context(), v, t.Agent, t.Framework, ex, f.name, tail)
		if err != nil {
			f.dst.Error = err.Error()
		}
		f.dst.Text = string(b)
	}
	m.render(w, "sandbox.html", pageData{Title: "Sandbox of " + string(t.ID), Nav: "tasks", Refresh: 3, View: v, Body: body})
}
