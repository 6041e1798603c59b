package alloc

import "sort"

// ranked is anything a sorter orders: a role or a framework.
type ranked interface {
	key() (Rank, string)
	// handle is where the sorter keeps the client's handle.
	handle() *int32
}

// sorter keeps clients in offer order. A change to one client moves just that
// client (binary search and a slice shift), so an allocation cycle that hands
// out thousands of offers never re-sorts the whole list; only a change of the
// cluster total, which moves every share at once, calls for sortAll. While
// ranks are stale, insert and remove still work (remove falls back to a scan
// by name) and sortAll restores the order.
//
// The order is a slice of int32 handles into a table of clients rather than
// of pointers: shifting it is a plain memmove, with none of the garbage
// collector's write barriers that made pointer shifts the cost of a cycle.
type sorter[T ranked] struct {
	order []int32
	table []T
	free  []int32
}

func (s *sorter[T]) len() int   { return len(s.order) }
func (s *sorter[T]) at(i int) T { return s.table[s.order[i]] }

func (s *sorter[T]) search(r Rank, name string) int {
	return sort.Search(len(s.order), func(i int) bool {
		ir, in := s.at(i).key()
		if ir != r {
			return r.Less(ir)
		}
		return name <= in
	})
}

// insert adds t at its place; the caller has set t's rank.
func (s *sorter[T]) insert(t T) {
	var h int32
	if n := len(s.free); n > 0 {
		h = s.free[n-1]
		s.free = s.free[:n-1]
		s.table[h] = t
	} else {
		h = int32(len(s.table))
		s.table = append(s.table, t)
	}
	*t.handle() = h
	r, n := t.key()
	i := s.search(r, n)
	s.order = append(s.order, 0)
	copy(s.order[i+1:], s.order[i:])
	s.order[i] = h
}

// remove takes t out; rank and name must be the ones t was sorted under.
func (s *sorter[T]) remove(t T, r Rank, name string) {
	h := *t.handle()
	i := s.search(r, name)
	if i >= len(s.order) || s.order[i] != h {
		i = -1
		for j, oh := range s.order {
			if oh == h {
				i = j
				break
			}
		}
		if i < 0 {
			return
		}
	}
	s.order = append(s.order[:i], s.order[i+1:]...)
	var zero T
	s.table[h] = zero
	s.free = append(s.free, h)
}

// move puts t, whose rank changed from old, at its new place, shifting only
// the clients between its old and new places.
func (s *sorter[T]) move(t T, old Rank, name string) {
	h := *t.handle()
	i := s.search(old, name)
	if i >= len(s.order) || s.order[i] != h {
		s.remove(t, old, name)
		s.insert(t)
		return
	}
	r, _ := t.key()
	// j is t's place in the order without t.
	j := sort.Search(len(s.order)-1, func(k int) bool {
		if k >= i {
			k++
		}
		kr, kn := s.at(k).key()
		if kr != r {
			return r.Less(kr)
		}
		return name <= kn
	})
	switch {
	case j > i:
		copy(s.order[i:j], s.order[i+1:j+1])
		s.order[j] = h
	case j < i:
		copy(s.order[j+1:i+1], s.order[j:i])
		s.order[j] = h
	}
}

// sortAll restores order after ranks changed wholesale.
func (s *sorter[T]) sortAll() {
	sort.Slice(s.order, func(i, j int) bool {
		ri, ni := s.at(i).key()
		rj, nj := s.at(j).key()
		if ri != rj {
			return ri.Less(rj)
		}
		return ni < nj
	})
}
