package torque

import (
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/workloads/mpi"
)

// DefaultCap is the share of the cluster Torque may hold: the paper capped
// it at a quarter.
const DefaultCap = 0.25

// Job is a batch job: all its tasks run at once.
type Job = mpi.Job

// Config describes a Torque framework; zero fields take Torque's defaults.
type Config struct {
	Jobs []Job
	// Cluster is the cluster's total resources.
	Cluster mezzo.Resources
	// Cap is the share of Cluster held or used at once; 0 means DefaultCap.
	Cap float64
	// HoldTimeout and RetryAfter are as in mpi.Config (0: 30 s and 10 s).
	HoldTimeout, RetryAfter time.Duration
	// MaxTasksPerAgent: 0 means 1, one task per node, as Torque places
	// them.
	MaxTasksPerAgent int
	// HoldOffers gathers gangs by holding offers unused (mpi's default)
	// instead of acquiring nodes as they are offered, which is what the
	// paper's Torque framework did and what New does unless this is set.
	HoldOffers bool
}

// New returns the gang scheduler with a strict FIFO queue and the cap,
// acquiring nodes as they are offered (a pbs_mom on each) unless
// HoldOffers is set.
func New(cfg Config) (*mpi.Scheduler, error) {
	if cfg.Cap == 0 {
		cfg.Cap = DefaultCap
	}
	if cfg.MaxTasksPerAgent == 0 {
		cfg.MaxTasksPerAgent = 1
	}
	return mpi.New(mpi.Config{
		Name:             "torque",
		Jobs:             cfg.Jobs,
		Cluster:          cfg.Cluster,
		Cap:              cfg.Cap,
		HoldTimeout:      cfg.HoldTimeout,
		RetryAfter:       cfg.RetryAfter,
		MaxTasksPerAgent: cfg.MaxTasksPerAgent,
		StrictFIFO:       true,
		AcquireNodes:     !cfg.HoldOffers,
	})
}
