package hadoop

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/traces"
	"github.com/mezzo-cluster/mezzo/workloads/internal/fakedriver"
)

// store places block i of job J ("J/i") on the agents listed for it.
type store map[string][][]mezzo.AgentID

func (s store) Blocks(job string) []string {
	var out []string
	for i := range s[job] {
		out = append(out, fmt.Sprintf("%s/%d", job, i))
	}
	return out
}

func (s store) Locations(block string) []mezzo.AgentID {
	job, idx, _ := strings.Cut(block, "/")
	var i int
	fmt.Sscan(idx, &i)
	return s[job][i]
}

var start = time.Date(2011, 3, 30, 0, 0, 0, 0, time.UTC)

// Agents a1, a2 are in rack r1; b1 in rack r2.
var racks = map[mezzo.AgentID]string{"a1": "r1", "a2": "r1", "b1": "r2"}

func offer(id string, agent mezzo.AgentID, slots int) mezzo.Offer {
	res := mezzo.MustResources(map[string]float64{mezzo.CPUs: float64(slots), mezzo.Mem: float64(slots * 2048)})
	return mezzo.Offer{ID: mezzo.OfferID(id), AgentID: agent, Resources: res,
		Attributes: []mezzo.Attribute{{Name: "rack", Value: racks[agent]}}}
}

func setup(t *testing.T, cfg Config, st store) (*Framework, *fakedriver.FakeDriver) {
	t.Helper()
	f, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	d := fakedriver.New(start)
	f.Registered(d, "hadoop")
	// Teach it the topology with offers it cannot use yet.
	f.ResourceOffers(d, []mezzo.Offer{offer("warm-a1", "a1", 0), offer("warm-a2", "a2", 0), offer("warm-b1", "b1", 0)})
	return f, d
}

func launched(d *fakedriver.FakeDriver) []string {
	var out []string
	for _, l := range d.Launches {
		for _, t := range l.Tasks {
			out = append(out, string(t.ID)+"@"+string(t.AgentID))
		}
	}
	return out
}

func mapJob(id string, maps, reduces int) traces.Job {
	return traces.Job{ID: id, Maps: maps, Reduces: reduces, MapDuration: 10 * time.Second, ReduceDuration: 20 * time.Second}
}

func TestDelaySchedulingLevels(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeDelay, cfg.RackDelay = 5*time.Second, 5*time.Second
	for _, tc := range []struct {
		name  string
		agent mezzo.AgentID
		waits []time.Duration // offers at these times
		want  int             // index of the first offer taken, -1 for none
	}{
		{"node-local at once", "a1", []time.Duration{0}, 0},
		{"rack-local after the node delay", "a2", []time.Duration{0, 3 * time.Second, 5 * time.Second}, 2},
		{"off-rack only after both delays", "b1", []time.Duration{0, 5 * time.Second, 9 * time.Second, 10 * time.Second}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, d := setup(t, cfg, store{"j": {{"a1"}}})
			f.Submit(mapJob("j", 1, 0))
			got := -1
			elapsed := time.Duration(0)
			for i, at := range tc.waits {
				d.Advance(at - elapsed)
				elapsed = at
				f.ResourceOffers(d, []mezzo.Offer{offer(fmt.Sprint("o", i), tc.agent, 1)})
				if len(d.Launches) > 0 && got < 0 {
					got = i
				}
			}
			if got != tc.want {
				t.Fatalf("taken at offer %d, want %d (launches %v, declines %d)", got, tc.want, launched(d), len(d.Declines))
			}
			rec := f.Records()[0]
			if local := rec.LocalMaps; (tc.agent == "a1") != (local == 1) {
				t.Errorf("LocalMaps %d on %s", local, tc.agent)
			}
		})
	}
}

func TestZeroDelayTakesAnySlot(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeDelay, cfg.RackDelay = 0, 0
	f, d := setup(t, cfg, store{"j": {{"a1"}}})
	f.Submit(mapJob("j", 1, 0))
	f.ResourceOffers(d, []mezzo.Offer{offer("o", "b1", 1)})
	if got := launched(d); len(got) != 1 || got[0] != "j/m0.1@b1" {
		t.Fatalf("launched %v, want j's map on b1", got)
	}
	if r := f.Records()[0]; r.InputMaps != 1 || r.LocalMaps != 0 {
		t.Fatalf("record %+v", r)
	}
}

func TestFIFOSkipsToAJobWithLocalData(t *testing.T) {
	f, d := setup(t, DefaultConfig(), store{"old": {{"a1"}}, "new": {{"b1"}}})
	f.Submit(mapJob("old", 1, 0))
	f.Submit(mapJob("new", 1, 0))
	f.ResourceOffers(d, []mezzo.Offer{offer("o", "b1", 1)})
	if got := launched(d); len(got) != 1 || got[0] != "new/m0.1@b1" {
		t.Fatalf("launched %v, want the newer job's local map", got)
	}
}

func TestSlotsPerOfferAndFairOrder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeDelay, cfg.RackDelay, cfg.Sharing = 0, 0, Fair
	f, d := setup(t, cfg, store{})
	f.Submit(mapJob("x", 10, 0))
	f.Submit(mapJob("y", 10, 0))
	f.ResourceOffers(d, []mezzo.Offer{offer("o", "a1", 4)})
	got := launched(d)
	if len(got) != 4 {
		t.Fatalf("launched %v, want 4 slots", got)
	}
	nx := 0
	for _, g := range got {
		if strings.HasPrefix(g, "x/") {
			nx++
		}
	}
	if nx != 2 {
		t.Fatalf("fair sharing launched %v: %d of x, want 2", got, nx)
	}
}

func TestReducesAfterMapsAndCompletion(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeDelay, cfg.RackDelay = 0, 0
	f, d := setup(t, cfg, store{})
	f.Submit(mapJob("j", 1, 2))
	f.ResourceOffers(d, []mezzo.Offer{offer("o1", "a1", 4)})
	tasks := d.LaunchedTasks()
	if len(tasks) != 1 || tasks[0].Name != "map" {
		t.Fatalf("launched %v before the map finished, want the map only", launched(d))
	}
	if !d.Suppressed {
		t.Error("not suppressed while its reduces wait for the map")
	}
	d.Advance(10 * time.Second)
	f.StatusUpdate(d, fakedriver.Status(tasks[0], mezzo.TaskFinished, nil))
	if d.Suppressed {
		t.Error("still suppressed with reduces runnable")
	}
	f.ResourceOffers(d, []mezzo.Offer{offer("o2", "a1", 4)})
	tasks = d.LaunchedTasks()
	if len(tasks) != 3 || tasks[1].Name != "reduce" || tasks[2].Name != "reduce" {
		t.Fatalf("launched %v, want 2 reduces after the map", launched(d))
	}
	d.Advance(20 * time.Second)
	f.StatusUpdate(d, fakedriver.Status(tasks[1], mezzo.TaskFinished, nil))
	if f.Done() {
		t.Fatal("done with one reduce left")
	}
	f.StatusUpdate(d, fakedriver.Status(tasks[2], mezzo.TaskFinished, nil))
	r := f.Records()[0]
	if !f.Done() || r.Finish.Sub(start) != 30*time.Second || r.Start != start || r.Tasks != 3 {
		t.Fatalf("record %+v, done %v", r, f.Done())
	}
}

func TestLostTaskIsRetriedAndRevives(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeDelay, cfg.RackDelay = 0, 0
	f, d := setup(t, cfg, store{})
	if !d.Suppressed {
		t.Fatal("not suppressed with no jobs")
	}
	f.Submit(mapJob("j", 1, 0))
	if d.Suppressed {
		t.Fatal("not revived on submit")
	}
	f.ResourceOffers(d, []mezzo.Offer{offer("o1", "a1", 1)})
	first := d.LaunchedTasks()[0]
	if !d.Suppressed {
		t.Fatal("not suppressed with everything launched")
	}
	f.StatusUpdate(d, fakedriver.Status(first, mezzo.TaskLost, nil))
	if d.Suppressed {
		t.Fatal("not revived with a task to retry")
	}
	f.ResourceOffers(d, []mezzo.Offer{offer("o2", "a2", 1)})
	tasks := d.LaunchedTasks()
	if len(tasks) != 2 || tasks[1].ID == first.ID {
		t.Fatalf("retry launched %v, want a new attempt ID", launched(d))
	}
	f.StatusUpdate(d, fakedriver.Status(tasks[1], mezzo.TaskFinished, nil))
	if !f.Done() {
		t.Fatal("not done after the retry finished")
	}
}

func TestConfigErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Slot = mezzo.Resources{}
	cfg.ReduceSlowstart = 2
	_, err := New(cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "slot") || !strings.Contains(err.Error(), "slowstart") {
		t.Fatalf("error %v, want both problems named", err)
	}
	if _, err := ParseSharing("lottery"); err == nil {
		t.Fatal("unknown sharing accepted")
	}
}

func TestSelfFeedsConfiguredJobs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Jobs = []traces.Job{{ID: "late", Submit: 30 * time.Second, Maps: 1, MapDuration: time.Second}}
	f, d := setup(t, cfg, store{})
	if f.Unfinished() != 1 || len(f.Records()) != 0 {
		t.Fatalf("unfinished %d, records %d before the submit time", f.Unfinished(), len(f.Records()))
	}
	d.Advance(30 * time.Second)
	if r := f.Records(); len(r) != 1 || r[0].Submit.Sub(start) != 30*time.Second {
		t.Fatalf("records %+v", r)
	}
}

func TestSubmitRevivesOnlyWhenSomethingIsHidden(t *testing.T) {
	cfg := DefaultConfig()
	st := store{"w": {{"b1"}}, "x": {{"a1"}}, "y": {{"a2"}}}
	f, d := setup(t, cfg, st)
	f.Submit(mapJob("w", 1, 0)) // suppressed: revives
	if d.Suppressed || d.Revives != 1 {
		t.Fatalf("after the first submit: suppressed %v, %d revives", d.Suppressed, d.Revives)
	}
	// w waits for b1: a1 is declined until w may go rack-local.
	f.ResourceOffers(d, []mezzo.Offer{offer("o1", "a1", 1)})
	if len(d.Declines) != 4 || d.Declines[3].Filters.Refuse != cfg.NodeDelay {
		t.Fatalf("declines %+v, want a1 filtered for the node delay", d.Declines)
	}
	f.Submit(mapJob("x", 1, 0)) // a1 is filtered and x wants it
	if d.Revives != 2 {
		t.Fatalf("%d revives, want one for a job submitted while a1 is filtered", d.Revives)
	}
	d.Advance(cfg.NodeDelay + time.Second)
	f.Submit(mapJob("y", 1, 0)) // no filter left: every free agent is on offer
	if d.Revives != 2 || d.Suppressed {
		t.Fatalf("%d revives, suppressed %v: revived with no filter in force", d.Revives, d.Suppressed)
	}
}
