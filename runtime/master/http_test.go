package master_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
)

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	code, b := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, b)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, b)
	}
}

// scrape parses /metrics with Prometheus's own text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, b := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// metric finds the value of a sample whose labels include want; ok is
// false when there is none.
func metric(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsAndStateAfterScriptedRun drives a master through a known
// script (one decline, one accept of two tasks, one task finishing, one
// acknowledgement) and checks the metrics and state endpoints count
// exactly that.
func TestMetricsAndStateAfterScriptedRun(t *testing.T) {
	m, addr := startMaster(t, master.Config{})
	m.SetViewMaxAge(0) // every request sees the latest state
	httpAddr, err := m.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + httpAddr
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: "cpus:4;mem:1024"})
	a := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics"})
	ctx := context.Background()

	first := a.NextOffers(wait)
	offerIDs := make([]string, len(first))
	for i, o := range first {
		offerIDs[i] = string(o.ID)
	}
	if _, err := a.Client.Decline(ctx, &api.DeclineRequest{Header: a.Header(), OfferIds: offerIDs, Filters: api.FiltersToProto(mezzo.Filters{Refuse: -1})}); err != nil {
		t.Fatal(err)
	}
	second := a.NextOffers(wait)
	if err := a.Accept(ids(second), []mezzo.TaskInfo{task("t1", "cpus:1;mem:128"), task("t2", "cpus:1;mem:128")}, mezzo.Filters{Refuse: -1}); err != nil {
		t.Fatal(err)
	}
	agent.WaitFor("two launches", wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == 2 })
	agent.Report(a.ID, "t1", mezzo.TaskRunning, "")
	agent.Report(a.ID, "t2", mezzo.TaskRunning, "")
	agent.Report(a.ID, "t2", mezzo.TaskFinished, "done")
	if st := a.NextUpdate("t1", wait); st.State != mezzo.TaskRunning {
		t.Fatalf("t1: %s", st.State)
	}
	for _, want := range []mezzo.TaskState{mezzo.TaskRunning, mezzo.TaskFinished} {
		st := a.NextUpdate("t2", wait)
		if st.State != want {
			t.Fatalf("t2: %s, want %s", st.State, want)
		}
		if _, err := a.Client.Acknowledge(ctx, &api.AcknowledgeRequest{Header: a.Header(), AgentId: string(agent.ID()), TaskId: "t2", Uuid: st.UUID}); err != nil {
			t.Fatal(err)
		}
	}
	snap := snapshot(t, m)

	fams := scrape(t, base)
	var fw map[string]string // offer and task counts are the cluster's, not per framework
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mezzo_master_offers_declined_total", fw, 1},
		{"mezzo_master_offers_accepted_total", fw, 1},
		{"mezzo_master_offers_sent_total", fw, float64(snap.Frameworks[0].Stats.OffersReceived)},
		{"mezzo_master_tasks_launched_total", fw, 2},
		{"mezzo_master_tasks", map[string]string{"state": "TASK_RUNNING"}, 1},
		{"mezzo_master_tasks", map[string]string{"state": "TASK_STAGING"}, 0},
		{"mezzo_master_tasks_ended_total", map[string]string{"state": "TASK_FINISHED"}, 1},
		{"mezzo_master_agents", map[string]string{"state": "active"}, 1},
		{"mezzo_master_agents", map[string]string{"state": "unreachable"}, 0},
		{"mezzo_master_frameworks", map[string]string{"state": "active"}, 1},
		{"mezzo_master_resource_capacity", map[string]string{"resource": "cpus"}, 4},
		{"mezzo_master_resource_capacity", map[string]string{"resource": "mem"}, 1024},
		{"mezzo_master_resource_used", map[string]string{"resource": "cpus"}, 1},
		{"mezzo_master_resource_used", map[string]string{"resource": "mem"}, 128},
		{"mezzo_master_status_updates_pending_ack", nil, 1}, // t1's RUNNING
		{"mezzo_master_leader", nil, 1},
		{"mezzo_master_roles", nil, 1},
	} {
		got, ok := metric(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// /metrics is open to anyone: it counts, and names no framework, role
	// or principal.
	if _, raw := get(t, base+"/metrics"); strings.Contains(string(raw), string(a.ID)) || strings.Contains(string(raw), "analytics") {
		t.Errorf("/metrics names framework %s or its role analytics:\n%s", a.ID, raw)
	}
	if snap.Frameworks[0].Stats.OffersReceived < 2 {
		t.Errorf("framework received %d offers, want at least the declined and the accepted one", snap.Frameworks[0].Stats.OffersReceived)
	}
	for _, h := range []string{"mezzo_master_allocation_cycle_seconds", "mezzo_master_loop_queue_seconds"} {
		if n, ok := metric(fams, h, nil); !ok || n == 0 {
			t.Errorf("histogram %s has %v observations, want some", h, n)
		}
	}
	if busy, ok := metric(fams, "mezzo_master_loop_busy_seconds_total", nil); !ok || busy <= 0 {
		t.Errorf("mezzo_master_loop_busy_seconds_total = %v, want the loop's busy time", busy)
	}
	m.SetLeader(false)
	if v, _ := metric(scrape(t, base), "mezzo_master_leader", nil); v != 0 {
		t.Errorf("after SetLeader(false), mezzo_master_leader = %v", v)
	}

	// /state
	var st master.StateJSON
	getJSON(t, base+"/state", &st)
	if st.Policy != "drf" || st.Summary.AgentsActive != 1 || st.Summary.FrameworksActive != 1 || len(st.Agents) != 1 || len(st.Frameworks) != 1 || len(st.Tasks) != 2 {
		t.Fatalf("/state: policy %q, %d agents active, %d frameworks active, %d agents, %d frameworks, %d tasks; want drf, 1, 1, 1, 1, 2",
			st.Policy, st.Summary.AgentsActive, st.Summary.FrameworksActive, len(st.Agents), len(st.Frameworks), len(st.Tasks))
	}
	if st.Summary.Resources.Total["cpus"] != 4 || st.Summary.Resources.Used["cpus"] != 1 || st.Summary.LiveTasks["TASK_RUNNING"] != 1 || st.Summary.EndedTasks["TASK_FINISHED"] != 1 {
		t.Errorf("/state summary = %+v", st.Summary)
	}
	if ag := st.Agents[0]; ag.ID != string(agent.ID()) || ag.Hostname != "h1" || ag.Total["mem"] != 1024 || ag.LiveTasks != 1 {
		t.Errorf("/state agent = %+v", ag)
	}
	if f := st.Frameworks[0]; f.Name != "a" || f.Role != "analytics" || f.TasksLaunched != 2 || f.TasksEnded["TASK_FINISHED"] != 1 || f.Used["cpus"] != 1 {
		t.Errorf("/state framework = %+v", f)
	}

	// /frameworks, /agents paging
	var fws struct{ Frameworks []master.FrameworkJSON }
	getJSON(t, base+"/frameworks", &fws)
	if len(fws.Frameworks) != 1 || fws.Frameworks[0].ID != string(a.ID) {
		t.Errorf("/frameworks = %+v", fws)
	}
	var ags struct {
		Total  int
		Agents []master.AgentJSON
	}
	getJSON(t, base+"/agents?offset=1&limit=10", &ags)
	if ags.Total != 1 || len(ags.Agents) != 0 {
		t.Errorf("/agents?offset=1 = %+v, want total 1 and no rows", ags)
	}
	if code, b := get(t, base+"/agents?limit=-3"); code != http.StatusBadRequest || !strings.Contains(string(b), "limit") {
		t.Errorf("/agents?limit=-3: %d %s, want 400 naming limit", code, b)
	}

	// /tasks filters
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{"t1", "t2"}},
		{"?state=running", []string{"t1"}},
		{"?state=TASK_FINISHED&framework=" + string(a.ID), []string{"t2"}},
		{"?state=live", []string{"t1"}},
		{"?state=ended", []string{"t2"}},
		{"?framework=nobody", nil},
		{"?agent=" + string(agent.ID()) + "&limit=1", []string{"t1"}},
	} {
		var tasks struct{ Tasks []master.TaskJSON }
		getJSON(t, base+"/tasks"+c.query, &tasks)
		var got []string
		for _, tk := range tasks.Tasks {
			got = append(got, tk.ID)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("/tasks%s = %v, want %v", c.query, got, c.want)
		}
	}
	if code, b := get(t, base+"/tasks?state=sleepy"); code != http.StatusBadRequest || !strings.Contains(string(b), `sleepy`) {
		t.Errorf("/tasks?state=sleepy: %d %s, want 400 naming the state", code, b)
	}

	// /health, and the UI pages render with what they must show.
	var h struct {
		Status string
		Leader bool
	}
	getJSON(t, base+"/health", &h)
	if h.Status != "ok" || h.Leader {
		t.Errorf("/health = %+v, want ok and standby", h)
	}
	for path, want := range map[string]string{
		"/ui/":                               "analytics",
		"/ui/agents":                         string(agent.ID()),
		"/ui/agent?id=" + string(agent.ID()): "t1",
		"/ui/tasks?state=ended":              "t2",
		"/ui/sandbox?framework=" + string(a.ID) + "&task=t1": "no HTTP server",
	} {
		code, b := get(t, base+path)
		if code != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d; want 200 showing %q; body:\n%.400s", path, code, want, b)
		}
	}
	if code, _ := get(t, base+"/ui/sandbox?framework=x&task=none"); code != http.StatusNotFound {
		t.Errorf("sandbox of an unknown task: %d, want 404", code)
	}
	if code, _ := get(t, base+"/sandbox/"+string(agent.ID())+"/fw/ex/stdout"); code != http.StatusNotFound {
		t.Errorf("sandbox proxy to an agent without HTTP: %d, want 404", code)
	}

	// A stopped master says so.
	h2 := m.Handler()
	m.Stop()
	rec := httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/health of a stopped master: %d, want 503", rec.Code)
	}
}
