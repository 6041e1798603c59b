package master_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// post makes an operator call with an optional bearer token.
func post(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Errors come as {"error": "..."}: unwrap them so tests match words.
	var e struct{ Error string }
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, []byte(e.Error)
	}
	return resp.StatusCode, b
}

func startHTTP(t *testing.T, m *master.Master) string {
	t.Helper()
	m.SetViewMaxAge(0)
	a, err := m.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + a
}

// offerOn waits for an offer of the agent, declining (unfiltered) the
// others.
func offerOn(t *testing.T, s *mastertest.Scheduler, agent mezzo.AgentID) mezzo.Offer {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		var found *mezzo.Offer
		for _, o := range s.TakeOffers(wait) {
			if o.AgentID == agent && found == nil {
				found = &o
				continue
			}
			declineNow(t, s, o.ID)
		}
		if found != nil {
			return *found
		}
	}
	t.Fatalf("no offer on agent %s", agent)
	return mezzo.Offer{}
}

func declineNow(t *testing.T, s *mastertest.Scheduler, id mezzo.OfferID) {
	t.Helper()
	if _, err := s.Client.Decline(t.Context(), &api.DeclineRequest{Header: s.Header(), OfferIds: []string{string(id)},
		Filters: api.FiltersToProto(mezzo.Filters{Refuse: -1})}); err != nil {
		t.Fatal(err)
	}
}

func TestDrainSendsInverseOffersAndStopsOffers(t *testing.T) {
	m, addr := startMaster(t, master.Config{})
	base := startHTTP(t, m)
	h1 := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: "cpus:2;mem:512"})
	h2 := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h2", Resources: "cpus:2;mem:512"})
	a := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "a"})
	b := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "b"}) // nothing on h1: not asked

	o := offerOn(t, a, h1.ID())
	if err := a.Accept([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{task("t1", "cpus:1;mem:64")}, mezzo.Filters{Refuse: -1}); err != nil {
		t.Fatal(err)
	}
	h1.WaitFor("t1 launched", wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == 1 })

	code, body := post(t, base+"/api/v1/agents/"+string(h1.ID())+"/drain?deadline=1h", "")
	if code != http.StatusAccepted {
		t.Fatalf("drain: %d %s", code, body)
	}
	var res master.DrainResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Frameworks) != 1 || res.Frameworks[0].ID != string(a.ID) || strings.Join(res.Frameworks[0].Tasks, ",") != "t1" {
		t.Errorf("drain asked %+v; want framework %s about t1 only", res.Frameworks, a.ID)
	}
	if res.Deadline == nil || time.Until(*res.Deadline) < 59*time.Minute {
		t.Errorf("drain deadline %v; want about an hour from now", res.Deadline)
	}
	ev := a.Next("an inverse offer", wait, func(ev *api.SchedulerEvent) bool { return ev.GetInverseOffer() != nil }).GetInverseOffer()
	if ev.AgentId != string(h1.ID()) || strings.Join(ev.TaskIds, ",") != "t1" || ev.DeadlineUnixNanos != res.Deadline.UnixNano() {
		t.Errorf("inverse offer %v; want agent %s, task t1, the drain's deadline", ev, h1.ID())
	}

	var agents struct{ Agents []master.AgentJSON }
	getJSON(t, base+"/agents", &agents)
	for _, ag := range agents.Agents {
		if want := ag.ID == string(h1.ID()); ag.Draining != want {
			t.Errorf("/agents: %s draining=%v, want %v", ag.ID, ag.Draining, want)
		}
	}
	var st master.StateJSON
	getJSON(t, base+"/state", &st)
	if st.Summary.AgentsDraining != 1 {
		t.Errorf("/state: %d agents draining, want 1", st.Summary.AgentsDraining)
	}

	// Several allocation cycles (100 ms) with everything declined
	// unfiltered: h2 comes back each time, h1 never.
	end := time.Now().Add(600 * time.Millisecond)
	sawH2 := false
	for time.Now().Before(end) {
		for _, s := range []*mastertest.Scheduler{a, b} {
			for _, o := range s.PendingOffers() {
				if o.AgentID == h1.ID() {
					t.Fatalf("framework %s offered drained agent %s: %v", s.ID, h1.ID(), o)
				}
				sawH2 = true
				declineNow(t, s, o.ID)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawH2 {
		t.Error("no offers of h2 while h1 drained: the test saw no allocation at all")
	}
	if snap := snapshot(t, m); snap.Totals.Offered.Get(mezzo.CPUs) > 2 {
		t.Errorf("offered %s while h1 drains; want at most h2's", snap.Totals.Offered)
	}

	code, body = post(t, base+"/api/v1/agents/"+string(h1.ID())+"/undrain", "")
	if code != http.StatusAccepted || !strings.Contains(string(body), `"offering":true`) {
		t.Fatalf("undrain: %d %s", code, body)
	}
	// Offers of h1 resume, to whichever framework DRF picks.
	for end := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		resumed := false
		for _, s := range []*mastertest.Scheduler{a, b} {
			for _, o := range s.PendingOffers() {
				resumed = resumed || o.AgentID == h1.ID()
			}
		}
		if resumed {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no offer of %s after undrain", h1.ID())
		}
	}
	if code, body := post(t, base+"/api/v1/agents/"+string(h1.ID())+"/undrain", ""); code != http.StatusConflict || !strings.Contains(string(body), "not draining") {
		t.Errorf("second undrain: %d %s; want 409 not draining", code, body)
	}
	if code, body := post(t, base+"/api/v1/agents/nope/drain", ""); code != http.StatusNotFound || !strings.Contains(string(body), "no agent nope") {
		t.Errorf("drain of an unknown agent: %d %s; want 404 no agent nope", code, body)
	}
	if code, body := post(t, base+"/api/v1/agents/"+string(h2.ID())+"/drain?deadline=soon", ""); code != http.StatusBadRequest || !strings.Contains(string(body), `"soon"`) {
		t.Errorf("drain with a bad deadline: %d %s; want 400 naming it", code, body)
	}
}

func TestDrainSurvivesReregistration(t *testing.T) {
	m, addr := startMaster(t, master.Config{})
	base := startHTTP(t, m)
	h1 := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: "cpus:2;mem:512"})
	id := h1.ID()
	if code, body := post(t, base+"/api/v1/agents/"+string(id)+"/drain", ""); code != http.StatusAccepted {
		t.Fatalf("drain: %d %s", code, body)
	}
	h1.Kill()
	mastertest.StartAgent(t, addr, mastertest.AgentOptions{ID: id, Secret: h1.Secret(), Hostname: "h1", Resources: "cpus:2;mem:512"})
	a := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "a"})
	time.Sleep(400 * time.Millisecond) // four allocation cycles
	if offers := a.PendingOffers(); len(offers) > 0 {
		t.Fatalf("re-registered drained agent was offered: %v", offers)
	}
	if code, body := post(t, base+"/api/v1/agents/"+string(id)+"/undrain", ""); code != http.StatusAccepted {
		t.Fatalf("undrain: %d %s", code, body)
	}
	offerOn(t, a, id)
}

func TestKillEndpoint(t *testing.T) {
	m, addr := startMaster(t, master.Config{})
	base := startHTTP(t, m)
	ag := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: "cpus:4;mem:512"})
	a := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "a"})
	b := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "b"})
	for _, s := range []*mastertest.Scheduler{a, b} {
		o := offerOn(t, s, ag.ID())
		if err := s.Accept([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{task("same", "cpus:1;mem:64"), task("only-"+string(s.ID), "cpus:1;mem:64")}, mezzo.Filters{}); err != nil {
			t.Fatal(err)
		}
	}
	ag.WaitFor("four launches", wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == 4 })

	code, body := post(t, base+"/api/v1/tasks/same/kill", "")
	if code != http.StatusConflict || !strings.Contains(string(body), string(a.ID)) || !strings.Contains(string(body), string(b.ID)) {
		t.Errorf("kill of an ID live in two frameworks: %d %s; want 409 naming both", code, body)
	}
	code, body = post(t, base+"/api/v1/tasks/same/kill?framework="+string(b.ID), "")
	if code != http.StatusAccepted {
		t.Fatalf("kill: %d %s", code, body)
	}
	var res master.KillResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Framework != string(b.ID) || res.Agent != string(ag.ID()) {
		t.Errorf("kill answered %+v; want framework %s, agent %s", res, b.ID, ag.ID())
	}
	code, body = post(t, base+"/api/v1/tasks/only-"+string(a.ID)+"/kill", "")
	if code != http.StatusAccepted {
		t.Fatalf("kill by ID alone: %d %s", code, body)
	}
	seen := ag.WaitFor("two kills", wait, func(s mastertest.AgentSeen) bool { return len(s.Kills) == 2 })
	if got := seen.Kills[0] + "," + seen.Kills[1]; got != "same,only-"+mezzo.TaskID(a.ID) {
		t.Errorf("agent was asked to kill %s", got)
	}
	ag.Report(a.ID, mezzo.TaskID("only-"+string(a.ID)), mezzo.TaskKilled, "killed")
	if st := a.NextUpdate(mezzo.TaskID("only-"+string(a.ID)), wait); st.State != mezzo.TaskKilled {
		t.Errorf("update %s, want TASK_KILLED", st.State)
	}
	code, body = post(t, base+"/api/v1/tasks/only-"+string(a.ID)+"/kill", "")
	if code != http.StatusConflict || !strings.Contains(string(body), "already ended") {
		t.Errorf("kill of an ended task: %d %s; want 409 already ended", code, body)
	}
	if code, body := post(t, base+"/api/v1/tasks/nope/kill", ""); code != http.StatusNotFound || !strings.Contains(string(body), "no task nope") {
		t.Errorf("kill of an unknown task: %d %s; want 404 no task nope", code, body)
	}
}

func TestOperatorEndpointsLoopbackOnlyWithoutACL(t *testing.T) {
	m, _ := startMaster(t, master.Config{})
	h := m.Handler()
	for _, path := range []string{"/api/v1/tasks/t/kill", "/api/v1/agents/a/drain", "/api/v1/agents/a/undrain"} {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.RemoteAddr = "192.0.2.7:4000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "loopback") {
			t.Errorf("%s from 192.0.2.7: %d %s; want 403 explaining loopback only", path, rec.Code, rec.Body)
		}
	}
}

func TestOperatorEndpointsFollowTheACL(t *testing.T) {
	creds, err := security.ParseCredentials("creds.json", []byte(testCredentials))
	if err != nil {
		t.Fatal(err)
	}
	acl, err := security.ParseACL("acl.json", []byte(strings.Replace(testACL, `"register_agents"`,
		`"drain_agents": [{"principals": ["admin"]}], "register_agents"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	opts := security.ServerOptions(security.ServerConfig{Auth: &security.Authenticator{Credentials: creds, Required: true}})
	m, addr := startMaster(t, master.Config{ServerOptions: opts, Authorizer: acl, OperatorCredentials: creds})
	base := startHTTP(t, m)
	ag := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:4;mem:256", DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}})
	s := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics", User: "nobody"}, as("tok-analytics-secret-0001"))
	o := offerOn(t, s, ag.ID())
	if err := s.Accept([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{task("t1", "cpus:1;mem:32")}, mezzo.Filters{}); err != nil {
		t.Fatal(err)
	}
	ag.WaitFor("t1 launched", wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == 1 })

	kill := base + "/api/v1/tasks/t1/kill"
	drain := base + "/api/v1/agents/" + string(ag.ID()) + "/drain"
	for _, c := range []struct {
		url, token string
		code       int
		words      string
	}{
		{kill, "", http.StatusUnauthorized, "bearer token"},
		{kill, "wrong", http.StatusUnauthorized, "invalid bearer token"},
		{kill, "tok-other-secret-000002", http.StatusForbidden, `"other" may not kill_tasks for task t1`},
		{drain, "tok-analytics-secret-0001", http.StatusForbidden, `"analytics" may not drain_agents`},
		{kill, "tok-analytics-secret-0001", http.StatusAccepted, `"task":"t1"`}, // its own framework: no rule needed
		{drain, "tok-admin-secret-000004", http.StatusAccepted, `"agent"`},
	} {
		code, body := post(t, c.url, c.token)
		if code != c.code || !strings.Contains(string(body), c.words) {
			t.Errorf("POST %s as %q: %d %s; want %d with %s", c.url, c.token, code, body, c.code, c.words)
		}
	}
	if code, body := post(t, kill, "tok-admin-secret-000004"); code != http.StatusAccepted {
		t.Errorf("admin kill: %d %s; want 202 (kill_tasks over ANY)", code, body)
	}
}
