// Package experiments defines the Mesos paper's simulated experiments as
// setups of the simulator: which cluster, which frameworks (from
// workloads/...) with which jobs (from traces or built here), which policy,
// how many seeds, and what to measure. Each returns plain result rows that
// package reports turns into tables and figures; `mezzo experiment NAME`
// runs one from the command line.
//
// The experiments live beside sim, not in it, on purpose: sim owns the
// simulated world, an experiment is only one configuration of that world
// plus the published numbers to compare with (see ../../reports/README.md
// and /work/shared/REPRODUCTION.md for where they come from).
//
//	exp, err := experiments.Lookup("locality")
//	res, err := exp.Run(ctx, experiments.Options{Quick: true, Seeds: 2})
//	// res.Rows is a []LocalityRow; res.Dists, when set, samples for CDFs.
//
// Every experiment is deterministic for given Options: the seeds are
// 1..Seeds, and nothing depends on map order or wall time.
package experiments
