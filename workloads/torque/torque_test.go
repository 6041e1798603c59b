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
	s, err := New(Config{Cluster: total, Jobs: []Job{
		{ID: "wide", Tasks: 6, TaskResources: task, Duration: time.Hour},
		{ID: "narrow", Tasks: 1, TaskResources: task, Duration: time.Hour},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	if cfg.Cap != DefaultCap || !cfg.StrictFIFO || cfg.MaxTasksPerAgent != 1 || cfg.Name != "torque" {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	d := fakedriver.New(time.Unix(0, 0))
	s.Registered(d, "fw")
	var offers []mezzo.Offer
	for i := 0; i < 16; i++ {
		offers = append(offers, fakedriver.Offer(fmt.Sprint("o", i), fmt.Sprint("a", i), node))
	}
	s.ResourceOffers(d, offers)
	// A quarter of 16 nodes is 4 nodes: the 6-node job holds 4, launches
	// nothing, and the 1-node job waits behind it (strict FIFO).
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
