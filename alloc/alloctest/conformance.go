package alloctest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
)

// Epoch is the time the fixtures start at.
var Epoch = time.Date(2011, 3, 30, 0, 0, 0, 0, time.UTC)

// NewPolicy builds a fresh policy for each run.
type NewPolicy func() alloc.Policy

// Run is the conformance suite: every policy must pass it.
func Run(t *testing.T, newPolicy NewPolicy) {
	t.Run("Conservation", func(t *testing.T) { testConservation(t, newPolicy) })
	t.Run("Deterministic", func(t *testing.T) { testDeterministic(t, newPolicy) })
	t.Run("FiltersHoldUntilExpiry", func(t *testing.T) { testFilters(t, newPolicy) })
	t.Run("SuppressedGetNothing", func(t *testing.T) { testSuppress(t, newPolicy) })
	t.Run("ReviveClearsFilters", func(t *testing.T) { testRevive(t, newPolicy) })
	t.Run("NoOfferToInactive", func(t *testing.T) { testInactive(t, newPolicy) })
}

// New builds an allocator with the policy, failing the test on error.
func New(t testing.TB, p alloc.Policy) *alloc.Allocator {
	t.Helper()
	a, err := alloc.New(alloc.Config{Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// AddAgents adds n agents named agent-000..., each with res.
func AddAgents(t testing.TB, a *alloc.Allocator, n int, res mezzo.Resources) []mezzo.AgentID {
	t.Helper()
	ids := make([]mezzo.AgentID, n)
	for i := range ids {
		ids[i] = mezzo.AgentID(fmt.Sprintf("agent-%04d", i))
		if err := a.AddAgent(ids[i], alloc.AgentInfo{Hostname: string(ids[i]), Resources: res}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// AddFrameworks adds n frameworks named fw-000..., spread over roles.
func AddFrameworks(t testing.TB, a *alloc.Allocator, n, roles int) []mezzo.FrameworkID {
	t.Helper()
	ids := make([]mezzo.FrameworkID, n)
	for i := range ids {
		ids[i] = mezzo.FrameworkID(fmt.Sprintf("fw-%04d", i))
		role := fmt.Sprintf("role-%02d", i%max(roles, 1))
		if err := a.AddFramework(ids[i], mezzo.FrameworkInfo{Name: string(ids[i]), Role: role}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// trace is what a random run observed, for determinism checks.
type trace []string

// randomRun applies a seeded random sequence of operations, checking the
// allocator's invariants after each, and returns what it saw.
func randomRun(t *testing.T, p alloc.Policy, seed uint64, steps int) trace {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	a := New(t, p)
	now := Epoch
	var out trace
	type task struct {
		fw    mezzo.FrameworkID
		agent mezzo.AgentID
		res   mezzo.Resources
	}
	var tasks []task
	agents := map[mezzo.AgentID]bool{}
	var agentIDs []mezzo.AgentID
	frameworks := map[mezzo.FrameworkID]bool{}
	var fwIDs []mezzo.FrameworkID
	outstanding := []mezzo.Offer{}
	nextAgent, nextFw := 0, 0
	sizes := []string{"cpus:4;mem:8192", "cpus:8;mem:4096;ports:[31000-31009]", "cpus:2;mem:16384;disk:100"}
	pickAgent := func() (mezzo.AgentID, bool) {
		if len(agentIDs) == 0 {
			return "", false
		}
		id := agentIDs[r.IntN(len(agentIDs))]
		return id, agents[id]
	}
	pickFw := func() (mezzo.FrameworkID, bool) {
		if len(fwIDs) == 0 {
			return "", false
		}
		id := fwIDs[r.IntN(len(fwIDs))]
		return id, frameworks[id]
	}
	dropOffers := func(withdrawn []mezzo.Offer) {
		gone := map[mezzo.OfferID]bool{}
		for _, o := range withdrawn {
			gone[o.ID] = true
		}
		kept := outstanding[:0]
		for _, o := range outstanding {
			if !gone[o.ID] {
				kept = append(kept, o)
			}
		}
		outstanding = kept
	}
	for step := 0; step < steps; step++ {
		now = now.Add(time.Duration(r.IntN(1500)) * time.Millisecond)
		switch op := r.IntN(100); {
		case op < 10 || len(agentIDs) < 2:
			id := mezzo.AgentID(fmt.Sprintf("agent-%03d", nextAgent))
			nextAgent++
			res := mezzo.MustParseResources(sizes[r.IntN(len(sizes))])
			if err := a.AddAgent(id, alloc.AgentInfo{Resources: res}, nil); err != nil {
				t.Fatal(err)
			}
			agents[id] = true
			agentIDs = append(agentIDs, id)
			out = append(out, "add-agent "+string(id))
		case op < 13:
			if id, ok := pickAgent(); ok {
				w, err := a.RemoveAgent(id)
				if err != nil {
					t.Fatal(err)
				}
				dropOffers(w)
				agents[id] = false
				kept := tasks[:0]
				for _, tk := range tasks {
					if tk.agent != id {
						kept = append(kept, tk)
					}
				}
				tasks = kept
				out = append(out, fmt.Sprintf("remove-agent %s withdrew %d", id, len(w)))
			}
		case op < 20 || len(fwIDs) < 2:
			id := mezzo.FrameworkID(fmt.Sprintf("fw-%03d", nextFw))
			nextFw++
			if err := a.AddFramework(id, mezzo.FrameworkInfo{Role: fmt.Sprintf("r%d", r.IntN(3))}); err != nil {
				t.Fatal(err)
			}
			frameworks[id] = true
			fwIDs = append(fwIDs, id)
		case op < 22:
			if id, ok := pickFw(); ok {
				w, err := a.RemoveFramework(id)
				if err != nil {
					t.Fatal(err)
				}
				dropOffers(w)
				frameworks[id] = false
				kept := tasks[:0]
				for _, tk := range tasks {
					if tk.fw != id {
						kept = append(kept, tk)
					}
				}
				tasks = kept
			}
		case op < 45:
			offers := a.Allocate(now)
			for _, o := range offers {
				out = append(out, fmt.Sprintf("offer %s %s %s %s", o.ID, o.FrameworkID, o.AgentID, o.Resources))
			}
			outstanding = append(outstanding, offers...)
		case op < 65:
			if len(outstanding) == 0 {
				continue
			}
			i := r.IntN(len(outstanding))
			o := outstanding[i]
			outstanding = append(outstanding[:i], outstanding[i+1:]...)
			// Use a random part of the offer's scalars.
			use := map[string]float64{}
			for _, s := range o.Resources.Scalars() {
				use[s.Name] = float64(r.IntN(int(s.Value())+1)) * 0.5
			}
			req := mezzo.MustResources(use).Min(o.Resources.ScalarPart())
			if err := a.Accept(now, o.FrameworkID, []mezzo.OfferID{o.ID}, req, mezzo.Filters{Refuse: time.Duration(r.IntN(3)) * time.Second}); err != nil {
				t.Fatalf("accept %s: %v", o.ID, err)
			}
			if !req.IsEmpty() {
				tasks = append(tasks, task{o.FrameworkID, o.AgentID, req})
			}
			// Accepting the same offer twice must fail and change nothing.
			if err := a.Accept(now, o.FrameworkID, []mezzo.OfferID{o.ID}, req, mezzo.Filters{}); err == nil {
				t.Fatalf("second accept of %s succeeded", o.ID)
			}
		case op < 78:
			if len(outstanding) == 0 {
				continue
			}
			i := r.IntN(len(outstanding))
			o := outstanding[i]
			outstanding = append(outstanding[:i], outstanding[i+1:]...)
			if err := a.Decline(now, o.FrameworkID, []mezzo.OfferID{o.ID}, mezzo.Filters{Refuse: time.Duration(r.IntN(10)) * time.Second}); err != nil {
				t.Fatalf("decline %s: %v", o.ID, err)
			}
		case op < 90:
			if len(tasks) == 0 {
				continue
			}
			i := r.IntN(len(tasks))
			tk := tasks[i]
			tasks = append(tasks[:i], tasks[i+1:]...)
			if err := a.Recover(tk.fw, tk.agent, tk.res); err != nil {
				t.Fatalf("recover: %v", err)
			}
		case op < 94:
			if id, ok := pickFw(); ok {
				if err := a.Suppress(id); err != nil {
					t.Fatal(err)
				}
			}
		case op < 98:
			if id, ok := pickFw(); ok {
				if err := a.Revive(id); err != nil {
					t.Fatal(err)
				}
			}
		default:
			if id, ok := pickFw(); ok {
				w, err := a.DeactivateFramework(id)
				if err != nil {
					t.Fatal(err)
				}
				dropOffers(w)
				if err := a.ActivateFramework(id); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := a.Check(); err != nil {
			t.Fatalf("step %d: invariant broken: %v", step, err)
		}
	}
	// Everything given back: the cluster is whole again.
	for _, id := range fwIDs {
		if frameworks[id] {
			if _, err := a.RemoveFramework(id); err != nil {
				t.Fatal(err)
			}
		}
	}
	tot := a.Totals()
	if !tot.Free.Equal(tot.Total.ScalarPart()) || !tot.Offered.IsEmpty() || !tot.Used.IsEmpty() {
		t.Fatalf("after removing every framework: free %s offered %s used %s, total %s", tot.Free, tot.Offered, tot.Used, tot.Total)
	}
	return out
}

func testConservation(t *testing.T, newPolicy NewPolicy) {
	for seed := uint64(1); seed <= 8; seed++ {
		randomRun(t, newPolicy(), seed, 600)
	}
}

func testDeterministic(t *testing.T, newPolicy NewPolicy) {
	a := randomRun(t, newPolicy(), 42, 400)
	b := randomRun(t, newPolicy(), 42, 400)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same operations gave different offers (-first +second):\n%s", diff)
	}
	if len(a) == 0 {
		t.Fatal("random run made no offers")
	}
}

// declineAll declines every offer with a filter and returns how many.
func declineAll(t *testing.T, a *alloc.Allocator, now time.Time, offers []mezzo.Offer, refuse time.Duration) {
	t.Helper()
	for _, o := range offers {
		if err := a.Decline(now, o.FrameworkID, []mezzo.OfferID{o.ID}, mezzo.Filters{Refuse: refuse}); err != nil {
			t.Fatal(err)
		}
	}
}

func testFilters(t *testing.T, newPolicy NewPolicy) {
	a := New(t, newPolicy())
	AddAgents(t, a, 12, mezzo.MustParseResources("cpus:4;mem:4096"))
	AddFrameworks(t, a, 4, 2)
	now := Epoch
	declinedAt := map[[2]string]time.Time{}
	const refuse = 10 * time.Second
	for step := 0; step < 60; step++ {
		for _, o := range a.Allocate(now) {
			key := [2]string{string(o.FrameworkID), string(o.AgentID)}
			if at, ok := declinedAt[key]; ok && now.Before(at.Add(refuse)) {
				t.Fatalf("%s offered agent %s at +%v, filtered until +%v", o.FrameworkID, o.AgentID, now.Sub(Epoch), at.Add(refuse).Sub(Epoch))
			}
			declinedAt[key] = now
			declineAll(t, a, now, []mezzo.Offer{o}, refuse)
		}
		now = now.Add(700 * time.Millisecond)
	}
	if len(declinedAt) == 0 {
		t.Fatal("no offers at all")
	}
}

func testSuppress(t *testing.T, newPolicy NewPolicy) {
	a := New(t, newPolicy())
	AddAgents(t, a, 8, mezzo.MustParseResources("cpus:4;mem:4096"))
	fws := AddFrameworks(t, a, 4, 4)
	for _, id := range fws[:3] {
		if err := a.Suppress(id); err != nil {
			t.Fatal(err)
		}
	}
	now := Epoch
	for step := 0; step < 5; step++ {
		offers := a.Allocate(now)
		for _, o := range offers {
			if o.FrameworkID != fws[3] {
				t.Fatalf("suppressed framework %s got offer %s", o.FrameworkID, o.ID)
			}
		}
		declineAll(t, a, now, offers, -1)
		now = now.Add(time.Second)
	}
	if err := a.Suppress(fws[3]); err != nil {
		t.Fatal(err)
	}
	if offers := a.Allocate(now); len(offers) != 0 {
		t.Fatalf("all suppressed, yet %d offers", len(offers))
	}
}

func testRevive(t *testing.T, newPolicy NewPolicy) {
	a := New(t, newPolicy())
	AddAgents(t, a, 8, mezzo.MustParseResources("cpus:4;mem:4096"))
	fws := AddFrameworks(t, a, 3, 3)
	first := a.Allocate(Epoch)
	if len(first) == 0 {
		t.Fatal("no offers on an idle cluster")
	}
	declineAll(t, a, Epoch, first, time.Hour)
	for _, o := range a.Allocate(Epoch.Add(time.Second)) {
		// Another framework may take a declined agent; the decliner must not.
		for _, d := range first {
			if d.FrameworkID == o.FrameworkID && d.AgentID == o.AgentID {
				t.Fatalf("%s re-offered %s inside its filter", o.FrameworkID, o.AgentID)
			}
		}
		declineAll(t, a, Epoch.Add(time.Second), []mezzo.Offer{o}, time.Hour)
	}
	for _, id := range fws {
		if err := a.Revive(id); err != nil {
			t.Fatal(err)
		}
	}
	again := a.Allocate(Epoch.Add(2 * time.Second))
	if len(again) != len(first) {
		t.Fatalf("after revive: %d offers, want %d as on the idle cluster", len(again), len(first))
	}
}

func testInactive(t *testing.T, newPolicy NewPolicy) {
	a := New(t, newPolicy())
	agents := AddAgents(t, a, 6, mezzo.MustParseResources("cpus:4;mem:4096"))
	fws := AddFrameworks(t, a, 2, 1)
	if _, err := a.DeactivateFramework(fws[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeactivateAgent(agents[0]); err != nil {
		t.Fatal(err)
	}
	for _, o := range a.Allocate(Epoch) {
		if o.FrameworkID == fws[0] {
			t.Fatalf("inactive framework got %s", o.ID)
		}
		if o.AgentID == agents[0] {
			t.Fatalf("inactive agent offered in %s", o.ID)
		}
	}
}
