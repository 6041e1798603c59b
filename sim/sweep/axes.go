package sweep

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo/workloads/hadoop"
)

// MaxRuns bounds a sweep's cross product, so a typo such as 1..1000000000
// is an error instead of an allocation that takes the machine down.
const MaxRuns = 1_000_000

// Axes are the values a sweep crosses. Every axis needs at least one value
// and none may repeat a value: a repeated value would be one run twice.
type Axes struct {
	Traces   []string // traces.Open specs
	Jobs     []int    // jobs of synthetic traces (others ignore it)
	Policies []string
	Agents   []int
	Delays   []time.Duration // hadoop's delay-scheduling wait
	Sharings []hadoop.Sharing
	Seeds    []uint64
}

// Point is one run of the cross product: one value of each axis.
type Point struct {
	Trace   string
	Jobs    int
	Policy  string
	Agents  int
	Delay   time.Duration
	Sharing hadoop.Sharing
	Seed    uint64
}

// KeyColumns are the CSV columns that name a run, in order; Point.Key
// gives their values.
var KeyColumns = []string{"trace", "jobs", "policy", "agents", "delay", "sharing", "seed"}

// Key is the point's values as written in the CSV's key columns. Two runs
// are the same run exactly when their keys are equal; resuming relies on
// the formatting being canonical (a delay of 5000ms is "5s").
func (p Point) Key() []string {
	return []string{p.Trace, strconv.Itoa(p.Jobs), p.Policy, strconv.Itoa(p.Agents), p.Delay.String(), p.Sharing.String(), strconv.FormatUint(p.Seed, 10)}
}

func (p Point) String() string {
	return fmt.Sprintf("trace %s, jobs %d, policy %s, agents %d, delay %v, sharing %v, seed %d", p.Trace, p.Jobs, p.Policy, p.Agents, p.Delay, p.Sharing, p.Seed)
}

// Size is the number of runs in the cross product.
func (a Axes) Size() int {
	n := 1
	for _, l := range []int{len(a.Traces), len(a.Jobs), len(a.Policies), len(a.Agents), len(a.Delays), len(a.Sharings), len(a.Seeds)} {
		if l == 0 {
			return 0
		}
		if n > MaxRuns/l+1 {
			return MaxRuns + 1
		}
		n *= l
	}
	return n
}

// Expand lists the cross product in a fixed order: trace outermost, then
// jobs, policy, agents, delay, sharing, and seed innermost, each axis in
// the order its values were given. It is the order of the sorted CSV.
func (a Axes) Expand() []Point {
	out := make([]Point, 0, a.Size())
	for _, tr := range a.Traces {
		for _, j := range a.Jobs {
			for _, pol := range a.Policies {
				for _, ag := range a.Agents {
					for _, d := range a.Delays {
						for _, sh := range a.Sharings {
							for _, s := range a.Seeds {
								out = append(out, Point{Trace: tr, Jobs: j, Policy: pol, Agents: ag, Delay: d, Sharing: sh, Seed: s})
							}
						}
					}
				}
			}
		}
	}
	return out
}

// checkShape reports empty axes, repeated values and a product over MaxRuns.
func (a Axes) checkShape() error {
	var errs []error
	check := func(name string, n int, key func(i int) string) {
		if n == 0 {
			errs = append(errs, fmt.Errorf("%s: no values", name))
			return
		}
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			k := key(i)
			if seen[k] {
				errs = append(errs, fmt.Errorf("%s: %s given twice", name, k))
			}
			seen[k] = true
		}
	}
	check("trace", len(a.Traces), func(i int) string { return a.Traces[i] })
	check("jobs", len(a.Jobs), func(i int) string { return strconv.Itoa(a.Jobs[i]) })
	check("policy", len(a.Policies), func(i int) string { return a.Policies[i] })
	check("agents", len(a.Agents), func(i int) string { return strconv.Itoa(a.Agents[i]) })
	check("delay", len(a.Delays), func(i int) string { return a.Delays[i].String() })
	check("sharing", len(a.Sharings), func(i int) string { return a.Sharings[i].String() })
	check("seed", len(a.Seeds), func(i int) string { return strconv.FormatUint(a.Seeds[i], 10) })
	if len(errs) == 0 && a.Size() > MaxRuns {
		errs = append(errs, fmt.Errorf("the cross product has more than %d runs", MaxRuns))
	}
	return errors.Join(errs...)
}

// ParseList splits a comma-separated flag value; an empty item is an error
// naming the flag and the item's position.
func ParseList(flag, s string) ([]string, error) {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if parts[i] == "" {
			return nil, fmt.Errorf("--%s %q: item %d is empty", flag, s, i+1)
		}
	}
	return parts, nil
}

// ParseInts parses a list of integers and inclusive ranges, such as
// "100,600" or "1..10,20": A..B is every integer from A to B.
func ParseInts(flag, s string) ([]int, error) {
	items, err := ParseList(flag, s)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, it := range items {
		lo, hi, isRange, err := parseRange(it)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: %w", flag, s, err)
		}
		if !isRange {
			out = append(out, int(lo))
			continue
		}
		if hi-lo >= MaxRuns {
			return nil, fmt.Errorf("--%s %q: range %s has more than %d values", flag, s, it, MaxRuns)
		}
		for v := lo; v <= hi; v++ {
			out = append(out, int(v))
		}
	}
	return out, nil
}

// ParseSeeds parses seeds as ParseInts does integers; seeds are not
// negative.
func ParseSeeds(flag, s string) ([]uint64, error) {
	ints, err := ParseInts(flag, s)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(ints))
	for i, v := range ints {
		if v < 0 {
			return nil, fmt.Errorf("--%s %q: seed %d is negative", flag, s, v)
		}
		out[i] = uint64(v)
	}
	return out, nil
}

// parseRange parses "N" or "A..B" with A ≤ B.
func parseRange(it string) (lo, hi int64, isRange bool, err error) {
	a, b, isRange := strings.Cut(it, "..")
	lo, err = strconv.ParseInt(strings.TrimSpace(a), 10, 32)
	if err != nil {
		if isRange {
			return 0, 0, false, fmt.Errorf("range %q: start %q is not an integer (want A..B)", it, a)
		}
		return 0, 0, false, fmt.Errorf("%q is not an integer or a range A..B", it)
	}
	if !isRange {
		return lo, lo, false, nil
	}
	hi, err = strconv.ParseInt(strings.TrimSpace(b), 10, 32)
	if err != nil {
		return 0, 0, false, fmt.Errorf("range %q: end %q is not an integer (want A..B)", it, b)
	}
	if hi < lo {
		return 0, 0, false, fmt.Errorf("range %q is empty: %d > %d", it, lo, hi)
	}
	return lo, hi, true, nil
}

// ParseDurations parses a list of Go durations ("0s,5s,1m").
func ParseDurations(flag, s string) ([]time.Duration, error) {
	items, err := ParseList(flag, s)
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, len(items))
	for i, it := range items {
		d, err := time.ParseDuration(it)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: %q is not a duration such as 5s", flag, s, it)
		}
		out[i] = d
	}
	return out, nil
}

// ParseSharings parses a list of hadoop sharing modes ("fifo,fair").
func ParseSharings(flag, s string) ([]hadoop.Sharing, error) {
	items, err := ParseList(flag, s)
	if err != nil {
		return nil, err
	}
	out := make([]hadoop.Sharing, len(items))
	for i, it := range items {
		sh, err := hadoop.ParseSharing(it)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: %w", flag, s, err)
		}
		out[i] = sh
	}
	return out, nil
}
