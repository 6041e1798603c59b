package sweep

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mezzo-cluster/mezzo/workloads/hadoop"
)

func TestParseInts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"5", []int{5}},
		{"100,600", []int{100, 600}},
		{"1..4", []int{1, 2, 3, 4}},
		{"1..3, 7 ,9..9", []int{1, 2, 3, 7, 9}},
		{"-2..1", []int{-2, -1, 0, 1}},
	} {
		got, err := ParseInts("agents", tc.in)
		if err != nil {
			t.Errorf("ParseInts(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseInts(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestParseErrorsNameTheProblem(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		parse    func(flag, s string) error
	}{
		{"1..", `end ""`, ints},
		{"..3", `start ""`, ints},
		{"5..2", "empty", ints},
		{"x", `"x" is not an integer`, ints},
		{"1,,2", "item 2 is empty", ints},
		{"", "item 1 is empty", ints},
		{"1..2000000000", "more than", ints},
		{"1,-4", "seed -4 is negative", seeds},
		{"0s,5x", `"5x" is not a duration`, durations},
		{"fifo,lifo", `unknown sharing "lifo"`, sharings},
	} {
		err := tc.parse("axis", tc.in)
		if err == nil {
			t.Errorf("%q parsed without error", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--axis") {
			t.Errorf("%q: error %q does not name the flag and %q", tc.in, err, tc.want)
		}
	}
}

func ints(f, s string) error      { _, err := ParseInts(f, s); return err }
func seeds(f, s string) error     { _, err := ParseSeeds(f, s); return err }
func durations(f, s string) error { _, err := ParseDurations(f, s); return err }
func sharings(f, s string) error  { _, err := ParseSharings(f, s); return err }

func TestParseDurationsAndSharings(t *testing.T) {
	d, err := ParseDurations("delay", "0s, 5s,1m30s")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{0, 5 * time.Second, 90 * time.Second}, d); diff != "" {
		t.Errorf("ParseDurations (-want +got):\n%s", diff)
	}
	s, err := ParseSharings("sharing", "fair,fifo")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]hadoop.Sharing{hadoop.Fair, hadoop.FIFO}, s); diff != "" {
		t.Errorf("ParseSharings (-want +got):\n%s", diff)
	}
}

func testAxes() Axes {
	return Axes{Traces: []string{"synthetic:fb"}, Jobs: []int{4}, Policies: []string{"drf", "tetris"},
		Agents: []int{10, 20}, Delays: []time.Duration{0, 5 * time.Second}, Sharings: []hadoop.Sharing{hadoop.FIFO}, Seeds: []uint64{1, 2, 3}}
}

func TestExpandIsTheCrossProductInOrder(t *testing.T) {
	a := testAxes()
	pts := a.Expand()
	if len(pts) != 2*2*2*3 || a.Size() != len(pts) {
		t.Fatalf("%d points (Size %d), want 24", len(pts), a.Size())
	}
	seen := map[string]bool{}
	for _, p := range pts {
		k := keyOf(p.Key())
		if seen[k] {
			t.Errorf("point %s twice", p)
		}
		seen[k] = true
	}
	// Seed innermost, policy outside agents and delay.
	want := []Point{
		{Trace: "synthetic:fb", Jobs: 4, Policy: "drf", Agents: 10, Delay: 0, Seed: 1},
		{Trace: "synthetic:fb", Jobs: 4, Policy: "drf", Agents: 10, Delay: 0, Seed: 2},
	}
	if diff := cmp.Diff(want, pts[:2]); diff != "" {
		t.Errorf("first points (-want +got):\n%s", diff)
	}
	if p := pts[12]; p.Policy != "tetris" || p.Agents != 10 || p.Delay != 0 || p.Seed != 1 {
		t.Errorf("point 12 = %s, want the first tetris run", p)
	}
	if got := (Point{Trace: "t", Jobs: 1, Policy: "drf", Agents: 2, Delay: 5000 * time.Millisecond, Sharing: hadoop.Fair, Seed: 9}).Key(); !cmp.Equal(got, []string{"t", "1", "drf", "2", "5s", "fair", "9"}) {
		t.Errorf("Key = %q, want canonical values", got)
	}
}

func TestShapeErrors(t *testing.T) {
	a := testAxes()
	a.Seeds = []uint64{1, 2, 1}
	a.Policies = nil
	err := a.checkShape()
	if err == nil || !strings.Contains(err.Error(), "seed: 1 given twice") || !strings.Contains(err.Error(), "policy: no values") {
		t.Errorf("checkShape = %v, want the repeated seed and the empty policy axis", err)
	}
	big := testAxes()
	big.Seeds = make([]uint64, 1000)
	for i := range big.Seeds {
		big.Seeds[i] = uint64(i)
	}
	big.Agents = make([]int, 1000)
	for i := range big.Agents {
		big.Agents[i] = i + 1
	}
	if err := big.checkShape(); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("checkShape of a product over MaxRuns = %v", err)
	}
}
