package alloc_test

import (
	"testing"

	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/alloc/alloctest"
)

// TestConformance runs the conformance suite on every registered policy.
func TestConformance(t *testing.T) {
	reg := alloc.DefaultRegistry()
	for _, name := range reg.Names() {
		t.Run(name, func(t *testing.T) {
			alloctest.Run(t, func() alloc.Policy {
				p, err := reg.New(name, alloc.PolicyOptions{Seed: 7})
				if err != nil {
					t.Fatal(err)
				}
				return p
			})
		})
	}
}

func TestUnknownPolicyListsKnown(t *testing.T) {
	_, err := alloc.DefaultRegistry().New("fifo", alloc.PolicyOptions{})
	if err == nil {
		t.Fatal("unknown policy accepted")
	}
	for _, name := range []string{"fifo", "drf", "fair-cpu", "priority", "random", "static"} {
		if !contains(err.Error(), name) {
			t.Errorf("error %q does not mention %q", err, name)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
