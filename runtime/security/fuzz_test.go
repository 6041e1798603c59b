package security

import (
	"context"
	"testing"
)

// FuzzParseACL: any input is either refused with an error or gives an ACL
// whose Allow neither panics nor lets the anonymous principal through.
func FuzzParseACL(f *testing.F) {
	f.Add([]byte(`{"run_tasks": [{"principals": ["a"], "users": ["ANY"]}]}`))
	f.Add([]byte(`{"register_agents": [{"principals": ["ANY"]}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		acl, err := ParseACL("fuzz.json", data)
		if err != nil {
			return
		}
		for _, a := range Actions {
			if acl.Allow(context.Background(), "", a, "x") == nil {
				t.Fatalf("anonymous allowed %s", a)
			}
			_ = acl.Allow(context.Background(), "a", a, "nobody")
		}
	})
}

// FuzzParseCredentials: parsing never panics, and every principal parsed
// can be found again by its own secret only.
func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte(`{"credentials": [{"principal": "a", "secret": "s"}]}`))
	f.Add([]byte(`{"credentials": [{"principal": "a", "secret": "s"}, {"principal": "b", "secret": "t"}]}`))
	f.Add([]byte(`{"credentials": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCredentials("fuzz.json", data)
		if err != nil {
			return
		}
		if len(c.entries) == 0 {
			t.Fatal("parsed credentials without entries")
		}
		if p, ok := c.Lookup("\x00not a secret\x00"); ok && p == "" {
			t.Fatal("lookup matched an empty principal")
		}
	})
}
