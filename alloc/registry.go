package alloc

import (
	"fmt"
	"sort"
	"strings"
)

// PolicyOptions configure a policy when it is built by name.
type PolicyOptions struct {
	// Seed seeds policies that draw at random.
	Seed uint64
}

// Registry maps policy names to constructors. It is an explicit value, not a
// package-level side effect: build one with [DefaultRegistry] and add your
// own policies with Register.
type Registry struct {
	makers map[string]func(PolicyOptions) Policy
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{makers: map[string]func(PolicyOptions) Policy{}} }

// DefaultRegistry returns a registry holding mezzo's built-in policies.
func DefaultRegistry() *Registry {
	r := NewRegistry()
	r.Register("drf", func(PolicyOptions) Policy { return DRF{} })
	r.Register("fair-cpu", func(PolicyOptions) Policy { return FairCPU{} })
	r.Register("priority", func(PolicyOptions) Policy { return Priority{} })
	r.Register("random", func(o PolicyOptions) Policy { return Random{Seed: o.Seed} })
	r.Register("static", func(PolicyOptions) Policy { return Static{} })
	r.Register("asset", func(PolicyOptions) Policy { return Asset{} })
	r.Register("tetris", func(PolicyOptions) Policy { return Tetris{Fairness: DefaultTetrisFairness} })
	return r
}

// Register adds a policy; it replaces one of the same name.
func (r *Registry) Register(name string, make func(PolicyOptions) Policy) {
	r.makers[name] = make
}

// Names lists the registered policies, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.makers))
	for n := range r.makers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New builds the named policy. An unknown name is an error that lists the
// known ones.
func (r *Registry) New(name string, opts PolicyOptions) (Policy, error) {
	make, ok := r.makers[name]
	if !ok {
		return nil, fmt.Errorf("unknown allocation policy %q (known: %s)", name, strings.Join(r.Names(), ", "))
	}
	return make(opts), nil
}
