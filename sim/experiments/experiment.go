package experiments

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat"
)

// Options tune a run of an experiment.
type Options struct {
	// Quick runs a reduced size meant for tests: seconds, not minutes.
	Quick bool
	// Seeds is how many seeds (1..Seeds) to run where results vary; 0
	// means the experiment's default (3, as the paper's averages of three
	// runs; 2 when Quick).
	Seeds int
	// Policies are the policies the policies experiment compares; nil
	// means every registered one.
	Policies []string
	// Progress, when set, is told after each simulation run how many of
	// the experiment's runs are done.
	Progress func(done, total int)
}

func (o Options) seeds() int {
	switch {
	case o.Seeds > 0:
		return o.Seeds
	case o.Quick:
		return 2
	}
	return 3
}

// Dist is a named sample, for distribution plots.
type Dist struct {
	Name   string
	Values []float64
}

// Result is what an experiment produced.
type Result struct {
	Experiment string
	// Rows is a slice of the experiment's row struct (LocalityRow, ...);
	// its json tags name the columns.
	Rows any
	// Extra holds secondary rows some experiments keep for their figures
	// (the sharing time series); nil otherwise.
	Extra any
	// Dists are samples for CDF plots (the policies experiment's job
	// completion times), in a fixed order.
	Dists []Dist
}

// Experiment is one named experiment.
type Experiment struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, o Options) (*Result, error)
}

// All lists the experiments in the order of the report.
func All() []Experiment {
	return []Experiment{
		{"locality", "data locality: 16 Hadoop instances on 93 agents, static partitioning vs mezzo with 0, 1 and 5 s delay scheduling (Figure 8)", runLocality},
		{"macro", "four frameworks on 96 agents, DRF vs static quarters: sum of job times and speedup per framework (Tables 3-5)", runMacro},
		{"sharing", "the macro run's share of the cluster per framework and CPU/memory utilisation over time, mezzo vs static", runSharing},
		{"model", "the Section 4 model: ramp-up, completion time and utilisation of elastic and rigid frameworks, simulated vs formula (Table 2)", runModel},
		{"spark", "iterative logistic regression, Hadoop-style vs Spark-style, 1-30 iterations (Figure 9)", runSpark},
		{"policies", "one Facebook workload under every registered policy: job completion times, shares, fairness, utilisation", runPolicies},
	}
}

// Names lists the experiments' names.
func Names() []string {
	var out []string
	for _, e := range All() {
		out = append(out, e.Name)
	}
	return out
}

// Lookup finds an experiment by name; an unknown name is an error listing
// the known ones.
func Lookup(name string) (Experiment, error) {
	for _, e := range All() {
		if e.Name == name {
			return e, nil
		}
	}
	return Experiment{}, fmt.Errorf("unknown experiment %q (known: %s)", name, strings.Join(Names(), ", "))
}

// progress counts runs for Options.Progress.
type progress struct {
	o     Options
	done  int
	total int
}

func (p *progress) step() {
	p.done++
	if p.o.Progress != nil {
		p.o.Progress(p.done, p.total)
	}
}

// meanSD is the mean and sample standard deviation (0 for one value).
func meanSD(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	if len(xs) == 1 {
		return xs[0], 0
	}
	m, sd := stat.MeanStdDev(xs, nil)
	return m, sd
}

func quantile(p float64, xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return stat.Quantile(p, stat.Empirical, s, nil)
}

// r1, r2, r3 round for printing: tables show what a reader can use and
// CSVs stay stable across platforms.
func r1(x float64) float64 { return math.Round(x*10) / 10 }
func r2(x float64) float64 { return math.Round(x*100) / 100 }
func r3(x float64) float64 { return math.Round(x*1000) / 1000 }
