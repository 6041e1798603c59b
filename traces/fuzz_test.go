package traces_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mezzo-cluster/mezzo/traces"
)

// FuzzSWIM: the SWIM reader turns any input into jobs in submit order
// with no negative counts, sizes or durations, ending in io.EOF or a
// *ParseError (Google and Alibaba readers: FuzzGoogle, FuzzAlibaba).
func FuzzSWIM(f *testing.F) {
	for _, name := range []string{"small.tsv", "backwards.tsv", "fields.tsv", "negative.tsv", "number.tsv", "time.tsv"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("")
	f.Fuzz(func(t *testing.T, input string) {
		src, err := traces.NewSWIMReader(strings.NewReader(input), "fuzz", traces.TaskModel{})
		if err != nil {
			t.Fatalf("default task model refused: %v", err)
		}
		var prev *traces.Job
		for range 10000 {
			j, err := src.Next()
			if err != nil {
				var pe *traces.ParseError
				if !errors.Is(err, io.EOF) && !errors.As(err, &pe) {
					t.Fatalf("error %v is neither EOF nor a *ParseError", err)
				}
				return
			}
			if prev != nil && j.Submit < prev.Submit {
				t.Fatalf("job %s submitted at %v after job %s at %v", j.ID, j.Submit, prev.ID, prev.Submit)
			}
			if j.Submit < 0 || j.Maps < 0 || j.Reduces < 0 || j.InputBytes < 0 || j.ShuffleBytes < 0 || j.OutputBytes < 0 ||
				j.MapDuration < 0 || j.ReduceDuration < 0 {
				t.Fatalf("job with a negative field: %+v", j)
			}
			prev = &j
		}
	})
}
