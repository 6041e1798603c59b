package traces

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"
)

// Bin is a range of job sizes, in map tasks, and the share of jobs that fall
// in it. Weights are relative: they need not sum to 1.
type Bin struct {
	MinMaps, MaxMaps int
	Weight           float64
}

// FacebookBins returns the job-size distribution of Facebook's Hadoop cluster
// in October 2009, from the delay scheduling paper (Zaharia et al., EuroSys
// 2010): the share of jobs with 1, 2, 3–20, 21–60, 61–150, 151–300, 301–500,
// 501–1500 and more than 1500 maps. The paper gives no upper bound for the
// last bin; 3000 is used, twice its lower bound, so that the largest jobs
// are about five times the cluster's 600 machines and their mean (about
// 2250 maps) is plausible for the multi-hour jobs of the time. The published
// shares sum to 101 % (rounding); weights are normalised when sampling.
// A fresh slice is returned each time, so callers may modify it.
func FacebookBins() []Bin {
	return []Bin{
		{1, 1, 39},
		{2, 2, 16},
		{3, 20, 14},
		{21, 60, 9},
		{61, 150, 6},
		{151, 300, 6},
		{301, 500, 4},
		{501, 1500, 4},
		{1501, 3000, 3},
	}
}

// SyntheticOptions configure the synthetic Facebook workload. Zero fields
// take the defaults of DefaultSyntheticOptions, except Seed, whose zero is a
// seed like any other.
type SyntheticOptions struct {
	// Jobs is how many jobs to generate. Default 100, as in the Mesos paper's
	// Facebook Hadoop mix.
	Jobs int

	// Seed seeds the generator: the same seed and options give the same jobs.
	Seed uint64

	// MeanInterarrival is the mean of the exponential gaps between
	// submissions (a Poisson arrival process). Default 14 s, the mean of the
	// Mesos paper's macrobenchmark.
	MeanInterarrival time.Duration

	// Bins is the job-size distribution. Default FacebookBins().
	Bins []Bin

	// ReduceShare is the share of jobs with at least MinMapsForReduce maps
	// that have a reduce phase. Default 0.5: in the Mesos paper's Facebook
	// mix, 22 of the 44 jobs with three or more maps have reduces, and none
	// of the one- and two-map jobs does. Set MapOnly to generate no reduces.
	ReduceShare float64

	// MinMapsForReduce is the smallest job that may have reduces. Default 3.
	MinMapsForReduce int

	// MapsPerReduce sets the reduce count of a job with a reduce phase:
	// ceil(maps / MapsPerReduce). Default 10, between the Mesos paper's bins
	// (10 maps / 2 reduces, 100 / 10, 400 / 30).
	MapsPerReduce int

	// MapOnly turns off reduces entirely (the locality experiment's scans).
	MapOnly bool

	// ShuffleRatio is shuffle bytes over input bytes for jobs with reduces.
	// Default 0.5. The reduce duration follows from it through the
	// TaskModel: with the defaults a 10-map, 1-reduce job's reducer handles
	// 352 MiB (shuffle plus a tenth as much output), about 47 s.
	ShuffleRatio float64
}

// DefaultSyntheticOptions returns the defaults described on SyntheticOptions.
func DefaultSyntheticOptions() SyntheticOptions {
	return SyntheticOptions{
		Jobs:             100,
		MeanInterarrival: 14 * time.Second,
		Bins:             FacebookBins(),
		ReduceShare:      0.5,
		MinMapsForReduce: 3,
		MapsPerReduce:    10,
		ShuffleRatio:     0.5,
	}
}

func (o SyntheticOptions) withDefaults() (SyntheticOptions, error) {
	d := DefaultSyntheticOptions()
	if o.Jobs == 0 {
		o.Jobs = d.Jobs
	}
	if o.MeanInterarrival == 0 {
		o.MeanInterarrival = d.MeanInterarrival
	}
	if o.Bins == nil {
		o.Bins = d.Bins
	}
	if o.ReduceShare == 0 {
		o.ReduceShare = d.ReduceShare
	}
	if o.MinMapsForReduce == 0 {
		o.MinMapsForReduce = d.MinMapsForReduce
	}
	if o.MapsPerReduce == 0 {
		o.MapsPerReduce = d.MapsPerReduce
	}
	if o.ShuffleRatio == 0 {
		o.ShuffleRatio = d.ShuffleRatio
	}
	var errs []error
	if o.Jobs < 0 {
		errs = append(errs, fmt.Errorf("synthetic: job count %d is negative", o.Jobs))
	}
	if o.MeanInterarrival < 0 {
		errs = append(errs, fmt.Errorf("synthetic: mean inter-arrival %v is negative", o.MeanInterarrival))
	}
	if !(o.ReduceShare >= 0 && o.ReduceShare <= 1) {
		errs = append(errs, fmt.Errorf("synthetic: reduce share %v is not in [0, 1]", o.ReduceShare))
	}
	if o.MinMapsForReduce < 0 {
		errs = append(errs, fmt.Errorf("synthetic: min maps for reduce %d is negative", o.MinMapsForReduce))
	}
	if o.MapsPerReduce < 0 {
		errs = append(errs, fmt.Errorf("synthetic: maps per reduce %d is negative", o.MapsPerReduce))
	}
	if !(o.ShuffleRatio > 0) || math.IsInf(o.ShuffleRatio, 0) {
		errs = append(errs, fmt.Errorf("synthetic: shuffle ratio %v must be positive and finite", o.ShuffleRatio))
	}
	if len(o.Bins) == 0 {
		errs = append(errs, errors.New("synthetic: no job-size bins"))
	}
	var total float64
	for i, b := range o.Bins {
		if b.MinMaps < 1 || b.MaxMaps < b.MinMaps {
			errs = append(errs, fmt.Errorf("synthetic: bin %d: maps %d–%d is not a range of at least one map", i, b.MinMaps, b.MaxMaps))
		}
		if !(b.Weight >= 0) || math.IsInf(b.Weight, 0) {
			errs = append(errs, fmt.Errorf("synthetic: bin %d: weight %v must be non-negative and finite", i, b.Weight))
		}
		total += b.Weight
	}
	if len(o.Bins) > 0 && !(total > 0) {
		errs = append(errs, errors.New("synthetic: bin weights sum to zero"))
	}
	return o, errors.Join(errs...)
}

// Synthetic generates a Facebook-like workload: job sizes drawn from bins,
// Poisson arrivals, reduces by the rule on SyntheticOptions, and bytes and
// durations through a TaskModel. Every map reads one full block, so a job's
// input is maps × BlockBytes; a job with reduces shuffles ShuffleRatio of its
// input and writes a tenth of its shuffle as output, a map-only job writes 1 %
// of its input (as the Mesos locality experiment's scans do).
//
// The first job arrives one gap after time 0, as in a Poisson process
// started at 0. Jobs are named job0, job1, … like SWIM's.
type Synthetic struct {
	opts  SyntheticOptions
	model TaskModel
	rng   *rand.Rand
	cum   []float64 // cumulative normalised bin weights
	n     int
	clock time.Duration
}

// NewSynthetic returns a generator. Zero fields of opts and model take their
// defaults.
func NewSynthetic(opts SyntheticOptions, model TaskModel) (*Synthetic, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := model.withDefaults()
	if err != nil {
		return nil, err
	}
	var total float64
	for _, b := range o.Bins {
		total += b.Weight
	}
	cum := make([]float64, len(o.Bins))
	var acc float64
	for i, b := range o.Bins {
		acc += b.Weight / total
		cum[i] = acc
	}
	// The golden-ratio constant decorrelates PCG's two words so that
	// neighbouring seeds do not give similar streams.
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	return &Synthetic{opts: o, model: m, rng: rng, cum: cum}, nil
}

// Next implements Source.
func (s *Synthetic) Next() (Job, error) {
	if s.n >= s.opts.Jobs {
		return Job{}, io.EOF
	}
	// Draw in a fixed order (gap, bin, size, reduce coin) so a seed's stream
	// never depends on which branch an earlier job took.
	gap := time.Duration(math.Round(s.rng.ExpFloat64() * float64(s.opts.MeanInterarrival)))
	u := s.rng.Float64()
	bin := len(s.cum) - 1 // guards against rounding leaving the last sum just below 1
	for i, c := range s.cum {
		if u < c {
			bin = i
			break
		}
	}
	b := s.opts.Bins[bin]
	maps := b.MinMaps + s.rng.IntN(b.MaxMaps-b.MinMaps+1)
	coin := s.rng.Float64()

	s.clock += gap
	j := Job{
		ID:         fmt.Sprintf("job%d", s.n),
		Submit:     s.clock,
		InputBytes: int64(maps) * s.model.BlockBytes,
	}
	if !s.opts.MapOnly && maps >= s.opts.MinMapsForReduce && coin < s.opts.ReduceShare {
		j.ShuffleBytes = int64(float64(j.InputBytes) * s.opts.ShuffleRatio)
		j.OutputBytes = j.ShuffleBytes / 10
	} else {
		j.OutputBytes = j.InputBytes / 100
	}
	s.model.fill(&j)
	if j.ShuffleBytes > 0 {
		// The reduce count is the workload's rule, not the byte model's; keep
		// the model's per-byte speed for the duration.
		j.Reduces = int(ceilDiv(int64(maps), int64(s.opts.MapsPerReduce)))
		j.ReduceDuration = s.model.taskDuration((j.ShuffleBytes+j.OutputBytes)/int64(j.Reduces), s.model.ReduceBytesPerSecond)
	} else {
		// A map-only job's output is written by its maps.
		j.Reduces, j.ReduceDuration = 0, 0
	}
	s.n++
	return j, nil
}
