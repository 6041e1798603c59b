package traces

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func generate(t testing.TB, opts SyntheticOptions) []Job {
	t.Helper()
	g, err := NewSynthetic(opts, TaskModel{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ReadAll(g)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestSyntheticDeterministic(t *testing.T) {
	opts := SyntheticOptions{Jobs: 500, Seed: 42}
	a, b := generate(t, opts), generate(t, opts)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different jobs (-first +second):\n%s", diff)
	}
	c := generate(t, SyntheticOptions{Jobs: 500, Seed: 43})
	if cmp.Equal(a, c) {
		t.Errorf("seeds 42 and 43 gave identical workloads")
	}
	// Through Open too, so the CLI path is the same generator.
	src, closer, err := Open("synthetic:fb", Options{Synthetic: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	d, err := ReadAll(src)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, d); diff != "" {
		t.Errorf("Open(synthetic:fb) differs from NewSynthetic (-direct +open):\n%s", diff)
	}
}

func TestSyntheticDistribution(t *testing.T) {
	const n = 20000
	jobs := generate(t, SyntheticOptions{Jobs: n, Seed: 1})
	if len(jobs) != n {
		t.Fatalf("got %d jobs, want %d", len(jobs), n)
	}
	bins := FacebookBins()
	var totalWeight float64
	for _, b := range bins {
		totalWeight += b.Weight
	}
	counts := make([]int, len(bins))
	var prev time.Duration
	reduceJobs, eligible := 0, 0
	for _, j := range jobs {
		bin := -1
		for i, b := range bins {
			if j.Maps >= b.MinMaps && j.Maps <= b.MaxMaps {
				bin = i
			}
		}
		if bin < 0 {
			t.Fatalf("%s has %d maps, outside every bin", j.ID, j.Maps)
		}
		counts[bin]++
		if j.Submit < prev {
			t.Fatalf("%s submitted at %v, before the previous job at %v", j.ID, j.Submit, prev)
		}
		prev = j.Submit
		if j.InputBytes != int64(j.Maps)*64*MiB {
			t.Fatalf("%s: %d input bytes for %d maps, want a full block each", j.ID, j.InputBytes, j.Maps)
		}
		if j.Maps < 3 && j.Reduces != 0 {
			t.Fatalf("%s: %d maps but %d reduces; small jobs are map-only", j.ID, j.Maps, j.Reduces)
		}
		if j.Maps >= 3 {
			eligible++
			if j.Reduces > 0 {
				reduceJobs++
				if want := (j.Maps + 9) / 10; j.Reduces != want {
					t.Fatalf("%s: %d maps, %d reduces, want %d", j.ID, j.Maps, j.Reduces, want)
				}
			}
		}
	}
	// With 20,000 jobs the standard error of a share is at most 0.0035;
	// 0.015 is over four of them.
	const tol = 0.015
	for i, b := range bins {
		got := float64(counts[i]) / n
		want := b.Weight / totalWeight
		if math.Abs(got-want) > tol {
			t.Errorf("bin %d–%d maps: %.4f of jobs, want %.4f ± %.3f", b.MinMaps, b.MaxMaps, got, want, tol)
		}
	}
	if share := float64(reduceJobs) / float64(eligible); math.Abs(share-0.5) > 0.03 {
		t.Errorf("%.3f of jobs with 3+ maps have reduces, want 0.5 ± 0.03", share)
	}
	// Exponential gaps with mean 14 s: the standard error of the mean over
	// 20,000 is 0.1 s, so ±0.5 s is five of them.
	mean := jobs[n-1].Submit.Seconds() / n
	if math.Abs(mean-14) > 0.5 {
		t.Errorf("mean inter-arrival %.3f s, want 14 ± 0.5 s", mean)
	}
	// An exponential's standard deviation equals its mean; a constant gap
	// or a uniform one would not pass.
	var sq float64
	prev = 0
	for _, j := range jobs {
		d := (j.Submit - prev).Seconds() - mean
		sq += d * d
		prev = j.Submit
	}
	if sd := math.Sqrt(sq / n); math.Abs(sd-mean) > 1 {
		t.Errorf("inter-arrival standard deviation %.3f s, want about the mean %.3f s", sd, mean)
	}
}

func TestSyntheticOptions(t *testing.T) {
	jobs := generate(t, SyntheticOptions{Jobs: 300, Seed: 7, MapOnly: true, MeanInterarrival: time.Second})
	for _, j := range jobs {
		if j.Reduces != 0 || j.ShuffleBytes != 0 || j.ReduceDuration != 0 {
			t.Fatalf("MapOnly gave %+v", j)
		}
	}
	if mean := jobs[len(jobs)-1].Submit.Seconds() / float64(len(jobs)); mean < 0.8 || mean > 1.2 {
		t.Errorf("mean gap %.3f s with MeanInterarrival 1 s", mean)
	}
	// A single-bin distribution gives only that size.
	for _, j := range generate(t, SyntheticOptions{Jobs: 50, Bins: []Bin{{MinMaps: 40, MaxMaps: 40, Weight: 1}}}) {
		if j.Maps != 40 {
			t.Fatalf("%s has %d maps, want 40", j.ID, j.Maps)
		}
	}
	if n := len(generate(t, SyntheticOptions{})); n != 100 {
		t.Errorf("default job count %d, want 100", n)
	}
}

func TestSyntheticBadOptions(t *testing.T) {
	tests := []struct {
		opts SyntheticOptions
		want string
	}{
		{SyntheticOptions{Jobs: -1}, "job count -1 is negative"},
		{SyntheticOptions{MeanInterarrival: -time.Second}, "mean inter-arrival -1s is negative"},
		{SyntheticOptions{ReduceShare: 1.5}, "reduce share 1.5"},
		{SyntheticOptions{Bins: []Bin{}}, "no job-size bins"},
		{SyntheticOptions{Bins: []Bin{{MinMaps: 5, MaxMaps: 2, Weight: 1}}}, "bin 0: maps 5–2"},
		{SyntheticOptions{Bins: []Bin{{MinMaps: 1, MaxMaps: 2, Weight: -1}}}, "bin 0: weight -1"},
		{SyntheticOptions{Bins: []Bin{{MinMaps: 1, MaxMaps: 2}}}, "weights sum to zero"},
	}
	for _, tc := range tests {
		_, err := NewSynthetic(tc.opts, TaskModel{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSynthetic(%+v) error = %v, want it to say %q", tc.opts, err, tc.want)
		}
	}
}

func BenchmarkSynthetic(b *testing.B) {
	b.ReportAllocs()
	jobs := 0
	for b.Loop() {
		g, err := NewSynthetic(SyntheticOptions{Jobs: 1000, Seed: 1}, TaskModel{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := g.Next(); err != nil {
				break
			}
			jobs++
		}
	}
	b.ReportMetric(float64(jobs)/b.Elapsed().Seconds(), "jobs/s")
}
