package sim

import (
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// uncheckedWorld is newTestWorld without check mode, which keeps one event
// per driver call.
func uncheckedWorld(t *testing.T, agents int) testWorld {
	t.Helper()
	tw := newTestWorld(t, agents, WorldConfig{})
	tw.cfg.Check = false
	return tw
}

func TestDriverBatchesCallsOfOneCallback(t *testing.T) {
	tw := uncheckedWorld(t, 20)
	var pendingBefore, pendingAfter int
	calls := 0
	s := &script{onOffers: func(s *script, offers []mezzo.Offer) {
		calls++
		pendingBefore = tw.eng.Pending()
		for i, o := range offers {
			if i == 3 {
				_ = s.d.LaunchTasks([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{task("t", o.AgentID, 10*time.Second)}, mezzo.Filters{Refuse: time.Hour})
				continue
			}
			_ = s.d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Hour})
		}
		pendingAfter = tw.eng.Pending()
	}}
	tw.add(t, "fw", s)
	tw.run(t, 1500*time.Millisecond)
	if calls != 1 || len(s.offers) != 20 {
		t.Fatalf("%d callbacks with %d offers, want 1 with 20", calls, len(s.offers))
	}
	if d := pendingAfter - pendingBefore; d != 1 {
		t.Fatalf("20 calls in one callback scheduled %d events, want 1", d)
	}
	tw.run(t, 30*time.Second)
	if got := s.status("t"); len(got) != 2 || got[1] != mezzo.TaskFinished {
		t.Fatalf("launched task went through %v, want running then finished", got)
	}
	// Every agent was filtered for an hour; only the launch agent comes
	// back, once its task frees more than was refused there.
	if len(s.offers) != 21 || s.offers[20].v.AgentID != s.offers[3].v.AgentID {
		t.Fatalf("%d offers after filtering every agent for an hour, want 21 (the last on the task's agent)", len(s.offers))
	}
}

func TestDriverBatchKeepsCallOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		first      func(mezzo.Driver) error
		second     func(mezzo.Driver) error
		suppressed bool
	}{
		{"suppress then revive", mezzo.Driver.SuppressOffers, mezzo.Driver.ReviveOffers, false},
		{"revive then suppress", mezzo.Driver.ReviveOffers, mezzo.Driver.SuppressOffers, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tw := uncheckedWorld(t, 2)
			s := &script{onOffers: func(s *script, offers []mezzo.Offer) {
				for _, o := range offers {
					_ = s.d.DeclineOffer(o.ID, mezzo.Filters{Refuse: -1})
				}
			}}
			id := tw.add(t, "fw", s)
			tw.run(t, 1500*time.Millisecond)
			_ = tc.first(s.d)
			_ = tc.second(s.d)
			tw.run(t, 1600*time.Millisecond)
			st, _ := tw.Allocator().Framework(id)
			if st.Suppressed != tc.suppressed {
				t.Fatalf("suppressed = %v, want %v", st.Suppressed, tc.suppressed)
			}
		})
	}
}
