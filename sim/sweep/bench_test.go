package sweep

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
)

// BenchmarkSweep runs the tests' 4-run sweep (2 policies × 2 seeds, 20
// agents, 6 synthetic jobs) afresh on all cores; ns/op is one whole sweep.
func BenchmarkSweep(b *testing.B) {
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		cfg, _ := small(b, filepath.Join(dir, fmt.Sprintf("%d.csv", i)), runtime.NumCPU())
		if _, err := Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
}
