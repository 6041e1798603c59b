package mezzo

import (
	"testing"
)

// FuzzParseResources: text either fails with an error or parses into
// resources whose text form parses back to equal resources; taking them
// from themselves leaves nothing, and a sum holds its parts. (Ranges add
// as sets, so r+r-r is not r when r has ports.)
func FuzzParseResources(f *testing.F) {
	for _, s := range []string{"cpus:4;mem:8192", "cpus:0.5;ports:[31000-32000]", "gpus:1;disk:1e3", "ports:[1-2,4-5]", "", ";;", "cpus:-1", "mem:1.0005"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResources(s)
		if err != nil {
			return
		}
		back, err := ParseResources(r.String())
		if err != nil {
			t.Fatalf("ParseResources(%q) = %s, whose text does not parse: %v", s, r, err)
		}
		if !back.Equal(r) {
			t.Fatalf("ParseResources(%q) = %s, round trip gives %s", s, r, back)
		}
		if d := r.Sub(r); !d.IsEmpty() {
			t.Fatalf("%s - itself = %s", r, d)
		}
		if !r.Add(r).Contains(r) {
			t.Fatalf("%s + itself does not contain %s", r, r)
		}
	})
}
