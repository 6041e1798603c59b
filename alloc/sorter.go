package alloc

import "sort"

// ranked is anything a sorter orders: a role or a framework.
type ranked interface {
	key() (Rank, string)
}

// sorter keeps clients in offer order. A change to one client moves just that
// client (binary search and a slice shift), so an allocation cycle that hands
// out thousands of offers never re-sorts the whole list; only a change of the
// cluster total, which moves every share at once, marks it for a full sort.
type sorter[T ranked] struct {
	items []T
	dirty bool
}

func (s *sorter[T]) search(r Rank, name string) int {
	return sort.Search(len(s.items), func(i int) bool {
		ir, in := s.items[i].key()
		if ir != r {
			return r.Less(ir)
		}
		return name <= in
	})
}

// insert adds t at its place; the caller has set t's rank.
func (s *sorter[T]) insert(t T) {
	if s.dirty {
		s.items = append(s.items, t)
		return
	}
	r, n := t.key()
	i := s.search(r, n)
	var zero T
	s.items = append(s.items, zero)
	copy(s.items[i+1:], s.items[i:])
	s.items[i] = t
}

// remove takes t out; rank and name must be the ones t was sorted under.
func (s *sorter[T]) remove(t T, r Rank, name string) {
	if !s.dirty {
		i := s.search(r, name)
		if i < len(s.items) {
			if ir, in := s.items[i].key(); ir == r && in == name {
				s.items = append(s.items[:i], s.items[i+1:]...)
				return
			}
		}
	}
	for i, it := range s.items {
		if _, in := it.key(); in == name {
			s.items = append(s.items[:i], s.items[i+1:]...)
			return
		}
	}
}

// sortAll restores order after ranks changed wholesale.
func (s *sorter[T]) sortAll() {
	sort.Slice(s.items, func(i, j int) bool {
		ri, ni := s.items[i].key()
		rj, nj := s.items[j].key()
		if ri != rj {
			return ri.Less(rj)
		}
		return ni < nj
	})
	s.dirty = false
}
