package alloc

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestFilterHeapRemovesAnyAndKeepsOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fw := &framework{id: "f"}
	var h filterHeap
	var live []*filter
	base := time.Unix(0, 0)
	for i := 0; i < 2000; i++ {
		if len(live) > 0 && rng.IntN(3) == 0 {
			k := rng.IntN(len(live))
			f := live[k]
			h.remove(f.heapIdx)
			if f.heapIdx != -1 {
				t.Fatal("removed filter keeps a heap index")
			}
			live = append(live[:k], live[k+1:]...)
			continue
		}
		f := &filter{fw: fw, agent: &agent{slot: i}, expires: base.Add(time.Duration(rng.IntN(50)) * time.Second)}
		h.push(f)
		live = append(live, f)
	}
	for i, f := range h {
		if f.heapIdx != i {
			t.Fatalf("filter at %d says it is at %d", i, f.heapIdx)
		}
	}
	var prev *filter
	for len(h) > 0 {
		f := h[0]
		h.remove(0)
		if prev != nil && (f.expires.Before(prev.expires) || (f.expires.Equal(prev.expires) && f.agent.slot < prev.agent.slot)) {
			t.Fatalf("out of order: %v/%d after %v/%d", f.expires, f.agent.slot, prev.expires, prev.agent.slot)
		}
		prev = f
		live = live[:len(live)-1]
	}
	if len(live) != 0 {
		t.Fatalf("%d filters lost from the heap", len(live))
	}
}
