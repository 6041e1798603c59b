package bench

import (
	"strings"
	"testing"
)

const oldRuns = `goos: linux
BenchmarkOffers/agents=100/frameworks=2-2  1  2.0 offer-p99-ms  1000 tasks/s
BenchmarkOffers/agents=100/frameworks=2-2  1  2.2 offer-p99-ms  1010 tasks/s
BenchmarkOffers/agents=100/frameworks=2-2  1  2.1 offer-p99-ms  990 tasks/s
BenchmarkEngine-2  1000000  100 ns/op
BenchmarkEngine-2  1000000  102 ns/op
PASS
`

func TestCompare(t *testing.T) {
	old, err := readBench("old.txt", strings.NewReader(oldRuns))
	if err != nil {
		t.Fatal(err)
	}
	if got := old["BenchmarkOffers/agents=100/frameworks=2"]["tasks/s"]; len(got) != 3 {
		t.Fatalf("tasks/s samples %v", got)
	}
	units := []string{"offer-p99-ms", "tasks/s", "ns/op"}
	if r := Compare(old, old, units, 0.1); len(r) != 0 {
		t.Errorf("a file against itself regressed: %v", r)
	}
	// Latency up 50 %, rate down 30 %, engine 5 % slower (under the 10 %
	// threshold).
	newRuns := strings.NewReplacer("2.0 offer", "3.0 offer", "2.2 offer", "3.3 offer", "2.1 offer", "3.15 offer",
		"1000 tasks", "700 tasks", "1010 tasks", "707 tasks", "990 tasks", "693 tasks", "100 ns", "105 ns", "102 ns", "107 ns").Replace(oldRuns)
	nw, err := readBench("new.txt", strings.NewReader(newRuns))
	if err != nil {
		t.Fatal(err)
	}
	r := Compare(old, nw, units, 0.1)
	if len(r) != 2 || r[0].Unit != "offer-p99-ms" || r[1].Unit != "tasks/s" {
		t.Fatalf("regressions %v; want offer-p99-ms and tasks/s", r)
	}
	if r[0].Worse < 0.49 || r[0].Worse > 0.51 || r[1].Worse < 0.29 || r[1].Worse > 0.31 {
		t.Errorf("worse by %v and %v; want 0.5 and 0.3", r[0].Worse, r[1].Worse)
	}
	// Improvements never fail.
	if r := Compare(nw, old, units, 0.1); len(r) != 0 {
		t.Errorf("improvements reported as regressions: %v", r)
	}
	// Noise widens the allowance: old runs whose middle half spreads over
	// 39 % of the median (9..20, median 13.5) hide a 33 % change; one
	// outlier does not widen it (a tripled median still fails).
	noisy, _ := readBench("noisy.txt", strings.NewReader("BenchmarkX-2 1 10 ms\nBenchmarkX-2 1 16 ms\nBenchmarkX-2 1 12 ms\nBenchmarkX-2 1 20 ms\nBenchmarkX-2 1 9 ms\nBenchmarkX-2 1 15 ms\n"))
	worse, _ := readBench("worse.txt", strings.NewReader("BenchmarkX-2 1 18 ms\nBenchmarkX-2 1 18 ms\nBenchmarkX-2 1 18 ms\n"))
	if r := Compare(noisy, worse, []string{"ms"}, 0.1); len(r) != 0 {
		t.Errorf("a change inside the noise failed: %v", r)
	}
	outlier, _ := readBench("outlier.txt", strings.NewReader("BenchmarkX-2 1 10 ms\nBenchmarkX-2 1 10 ms\nBenchmarkX-2 1 11 ms\nBenchmarkX-2 1 10 ms\nBenchmarkX-2 1 50 ms\n"))
	tripled, _ := readBench("tripled.txt", strings.NewReader("BenchmarkX-2 1 30 ms\nBenchmarkX-2 1 31 ms\nBenchmarkX-2 1 30 ms\n"))
	if r := Compare(outlier, tripled, []string{"ms"}, 0.1); len(r) != 1 {
		t.Errorf("a tripled median passed because of one outlier run: %v", r)
	}
	if _, err := readBench("bad.txt", strings.NewReader("BenchmarkX-2 1 ten ms\n")); err == nil || !strings.Contains(err.Error(), "bad.txt:1") {
		t.Errorf("bad value: error %v; want one naming bad.txt:1", err)
	}
}
