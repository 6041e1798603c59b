package isolation

import (
	"os/exec"
	"testing"
)

// BenchmarkStartWaitDestroy measures one container's whole life with a task
// that exits at once: the per-launch cost the agent pays for isolation.
func BenchmarkStartWaitDestroy(b *testing.B) {
	for _, kind := range []string{"cgroups", "process"} {
		b.Run(kind, func(b *testing.B) {
			var iso Isolator = newProcess()
			if kind == "cgroups" {
				requireRoot(b)
				ci, err := newCgroups(Options{Parent: "mezzo-bench"})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { removeParent(b, ci.h) })
				iso = ci
			}
			for b.Loop() {
				c, err := iso.Start("bench", exec.Command("/bin/true"), Limits{CPUs: 1, MemBytes: 64 << 20})
				if err != nil {
					b.Fatal(err)
				}
				if info, err := c.Wait(); err != nil || !info.Success() {
					b.Fatal(info, err)
				}
				if err := c.Destroy(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
