package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Dist is a distribution of task durations: "fixed:2s", "normal:30s,10s"
// (clipped below at 0) or "exp:30s" (exponential with that mean).
type Dist struct {
	Kind   string // "fixed", "normal" or "exp"
	Mean   time.Duration
	Stddev time.Duration // normal only
}

// ParseDist reads the forms Dist lists.
func ParseDist(s string) (Dist, error) {
	kind, args, ok := strings.Cut(s, ":")
	if !ok {
		return Dist{}, fmt.Errorf("task durations %q: want fixed:D, normal:MEAN,STDDEV or exp:MEAN", s)
	}
	parts := strings.Split(args, ",")
	durs := make([]time.Duration, len(parts))
	for i, p := range parts {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d < 0 {
			return Dist{}, fmt.Errorf("task durations %q: %q is not a non-negative duration", s, p)
		}
		durs[i] = d
	}
	want := map[string]int{"fixed": 1, "exp": 1, "normal": 2}
	n, known := want[kind]
	switch {
	case !known:
		return Dist{}, fmt.Errorf("task durations %q: unknown kind %q (fixed, normal, exp)", s, kind)
	case len(durs) != n:
		return Dist{}, fmt.Errorf("task durations %q: %s takes %d duration(s), got %d", s, kind, n, len(durs))
	}
	d := Dist{Kind: kind, Mean: durs[0]}
	if kind == "normal" {
		d.Stddev = durs[1]
	}
	return d, nil
}

func (d Dist) String() string {
	switch d.Kind {
	case "normal":
		return fmt.Sprintf("normal:%v,%v", d.Mean, d.Stddev)
	case "":
		return "fixed:0s"
	}
	return fmt.Sprintf("%s:%v", d.Kind, d.Mean)
}

// Sample draws one duration with rng.
func (d Dist) Sample(rng *rand.Rand) time.Duration {
	switch d.Kind {
	case "normal":
		return time.Duration(math.Max(0, float64(d.Mean)+rng.NormFloat64()*float64(d.Stddev)))
	case "exp":
		return time.Duration(rng.ExpFloat64() * float64(d.Mean))
	}
	return d.Mean
}
