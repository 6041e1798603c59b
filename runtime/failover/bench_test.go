package failover_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mezzo-cluster/mezzo/runtime/failover"
)

// BenchmarkRecovery runs the failover experiment once per size (default
// 2,000 agents; MEZZO_FAILOVER_SIZES=500,10000 to change) and reports the
// recovery time. Profile it with -cpuprofile to see what dominates.
func BenchmarkRecovery(b *testing.B) {
	sizes := []int{2000}
	if s := os.Getenv("MEZZO_FAILOVER_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("MEZZO_FAILOVER_SIZES: %q is not a number", f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r, err := failover.RunOne(context.Background(), failover.Config{}, n)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.RecoverySec, "recovery_s")
				b.ReportMetric(r.DetectSec, "detect_s")
				b.ReportMetric(r.ReregisterSec, "reregister_s")
			}
		})
	}
}
