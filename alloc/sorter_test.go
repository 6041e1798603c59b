package alloc

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

type item struct {
	name string
	rank Rank
	h    int32
}

func (it *item) key() (Rank, string) { return it.rank, it.name }
func (it *item) handle() *int32      { return &it.h }

// TestSorterMatchesFullSort moves, inserts and removes at random and checks
// the incremental order against a full sort after every step.
func TestSorterMatchesFullSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s sorter[*item]
	var live []*item
	for step := 0; step < 3000; step++ {
		switch op := r.IntN(10); {
		case op < 3 || len(live) < 3:
			it := &item{name: fmt.Sprintf("c%04d", step), rank: Rank{Major: float64(r.IntN(20))}}
			s.insert(it)
			live = append(live, it)
		case op < 4:
			i := r.IntN(len(live))
			s.remove(live[i], live[i].rank, live[i].name)
			live = append(live[:i], live[i+1:]...)
		default:
			it := live[r.IntN(len(live))]
			old := it.rank
			it.rank = Rank{Major: float64(r.IntN(20)), Minor: float64(r.IntN(3))}
			s.move(it, old, it.name)
		}
		want := append([]*item(nil), live...)
		sort.Slice(want, func(i, j int) bool {
			if want[i].rank != want[j].rank {
				return want[i].rank.Less(want[j].rank)
			}
			return want[i].name < want[j].name
		})
		if s.len() != len(want) {
			t.Fatalf("step %d: %d items, want %d", step, s.len(), len(want))
		}
		for i, w := range want {
			if s.at(i) != w {
				t.Fatalf("step %d: position %d holds %s, want %s", step, i, s.at(i).name, w.name)
			}
		}
	}
}
