package torque

import (
	"fmt"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/workloads/internal/fakedriver"
)

func TestTorqueDefaults(t *testing.T) {
	node := mezzo.Cpus(4).Add(mezzo.MemMB(8192))
	var total mezzo.Resources
	for i := 0; i < 16; i++ {
		total = total.Add(node)
	}
	task := mezzo.Cpus(2).Add(mezzo.MemMB(512))
	jobs := []Job{
		{ID: "wide", Tasks: 10, TaskResources: task, Duration: time.Hour},
		{ID: "narrow", Tasks: 1, TaskResources: task, Duration: time.Hour},
	}
	s, err := New(Config{Cluster: total, Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	if cfg.Cap != DefaultCap || !cfg.StrictFIFO || cfg.MaxTasksPerAgent != 1 || cfg.Name != "torque" || !cfg.AcquireNodes {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	d := fakedriver.New(time.Unix(0, 0))
	s.Registered(d, "fw")
	var offers []mezzo.Offer
	for i := 0; i < 16; i++ {
		offers = append(offers, fakedriver.Offer(fmt.Sprint("o", i), fmt.Sprint("a", i), node))
	}
	s.ResourceOffers(d, offers)
	// A quarter of 64 cpus is 16: the 10-node job acquires 8 nodes (a
	// 2-cpu daemon on each, kept), cannot start, and the 1-node job waits
	// behind it (strict FIFO).
	if got := len(d.LaunchedTasks()); got != 8 {
		t.Errorf("launched %d node daemons, want 8 (the cap)", got)
	}
	if got := s.Acquired().Get(mezzo.CPUs); got != 16 {
		t.Errorf("acquired %v cpus, want the cap of 16", got)
	}
	d.Advance(time.Minute)
	s.ResourceOffers(d, offers[8:9])
	if got := len(d.LaunchedTasks()); got != 8 || s.Jobs()[1].Start != (time.Time{}) {
		t.Errorf("launched %d daemons, narrow started %v; the head job must block the queue", got, s.Jobs()[1].Start)
	}
	if len(d.Kills) != 0 {
		t.Errorf("killed %v; acquired nodes are kept while the gang waits", d.Kills)
	}

	// The offer-holding flavour: the head job holds 4 whole nodes (16
	// cpus), launches nothing, and blocks the queue.
	s, err = New(Config{Cluster: total, Jobs: jobs, HoldOffers: true})
	if err != nil {
		t.Fatal(err)
	}
	d = fakedriver.New(time.Unix(0, 0))
	s.Registered(d, "fw")
	s.ResourceOffers(d, offers)
	if held := s.Held().Get(mezzo.CPUs); held != 16 {
		t.Errorf("held %v cpus, want 16 (the cap)", held)
	}
	d.Advance(time.Minute)
	s.ResourceOffers(d, offers[:1])
	if len(d.Launches) != 0 {
		t.Errorf("launched %v; the head job cannot fit under the cap and must block the queue", d.Launches)
	}
}

func TestTorqueRejectsBadCap(t *testing.T) {
	if _, err := New(Config{Cluster: mezzo.Cpus(4), Cap: 2}); err == nil {
		t.Error("cap 2 accepted")
	}
}
