package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Samples are the values of one metric of one benchmark, from one file of
// Go benchmark output (several lines when run with -count).
type Samples map[string]map[string][]float64 // benchmark name → unit → values

// gomaxprocsSuffix is the -N suffix go test adds to benchmark names.
var gomaxprocsSuffix = regexp.MustCompile(`-\d+$`)

// ReadBenchFile reads Go benchmark lines ("BenchmarkX-2  N  v unit  v
// unit ..."); other lines are skipped. A line that starts like a result
// but does not parse is an error naming the file and line.
func ReadBenchFile(path string) (Samples, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readBench(path, f)
}

func readBench(name string, r io.Reader) (Samples, error) {
	out := Samples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue // a benchmark's own log line, not a result
		}
		if len(fields)%2 != 0 {
			return nil, fmt.Errorf("%s:%d: a result needs value-unit pairs after the iteration count: %q", name, line, sc.Text())
		}
		bench := gomaxprocsSuffix.ReplaceAllString(fields[0], "")
		for i := 2; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %q is not a number (unit %s)", name, line, fields[i], fields[i+1])
			}
			if out[bench] == nil {
				out[bench] = map[string][]float64{}
			}
			out[bench][fields[i+1]] = append(out[bench][fields[i+1]], v)
		}
	}
	return out, sc.Err()
}

// Regression is a metric that got worse beyond its allowance.
type Regression struct {
	Benchmark, Unit string
	Old, New        float64 // medians
	Worse           float64 // fraction worse (0.25: 25 % worse)
	Allowed         float64 // the allowance it exceeded
}

func (r Regression) String() string {
	return fmt.Sprintf("%s %s: %.4g -> %.4g, %.0f%% worse (allowed %.0f%%)", r.Benchmark, r.Unit, r.Old, r.New, 100*r.Worse, 100*r.Allowed)
}

// HigherIsBetter says which way a unit improves: rates (".../s") go up,
// everything else (times, latencies, bytes, allocations) goes down.
func HigherIsBetter(unit string) bool { return strings.HasSuffix(unit, "/s") }

// Compare finds the gated metrics (units) that got worse from old to new
// by more than their allowance: the larger of threshold and the noise
// seen in the samples themselves, the relative interquartile range
// (Q3−Q1)/median of the old runs and of the new runs, whichever is
// larger. A metric whose middle half spreads over 30 % between runs of the
// same binary therefore needs more than 30 % to fail, and one that is
// stable fails at threshold. The interquartile range, not max−min, so one
// outlier run (a p99 caught by a burst of other load) does not open the
// gate wide. Medians are compared; benchmarks present in only one file are
// skipped.
func Compare(old, new Samples, units []string, threshold float64) []Regression {
	var out []Regression
	names := make([]string, 0, len(old))
	for n := range old {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, unit := range units {
			o, n := old[name][unit], new[name][unit]
			if len(o) == 0 || len(n) == 0 {
				continue
			}
			mo, mn := medianOf(o), medianOf(n)
			if mo == 0 {
				continue
			}
			worse := (mn - mo) / math.Abs(mo)
			if HigherIsBetter(unit) {
				worse = -worse
			}
			allowed := math.Max(threshold, math.Max(spread(o), spread(n)))
			if worse > allowed {
				out = append(out, Regression{Benchmark: name, Unit: unit, Old: mo, New: mn, Worse: worse, Allowed: allowed})
			}
		}
	}
	return out
}

func medianOf(v []float64) float64 { return median(v) }

// spread is (Q3−Q1)/median with linearly interpolated quartiles, 0 for
// fewer than two samples.
func spread(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	q := func(p float64) float64 {
		x := p * float64(len(s)-1)
		i := int(x)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + (x-float64(i))*(s[i+1]-s[i])
	}
	m := median(s)
	if m == 0 {
		return 0
	}
	return (q(0.75) - q(0.25)) / math.Abs(m)
}
