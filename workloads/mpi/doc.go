// Package mpi is a framework for rigid, all-or-nothing jobs (MPI programs):
// a job needs all its tasks running at once or none at all.
//
// The scheduler gathers a gang for one job at a time: it holds the offers
// that can host the job's tasks, launching nothing, until together they hold
// the whole job; then it launches every task at once and gives back the
// surplus. If the gang is not complete within HoldTimeout it declines every
// held offer (filtered for RetryAfter, so the resources go to others) and
// tries again when offers return. A Cap bounds the share of the cluster the
// framework ever holds or runs on, as the paper capped Torque at a quarter.
// A task that fails takes its whole job down: the others are killed and the
// job is gathered again.
//
// AcquireNodes gathers differently, as the paper's Torque framework did:
// each useful offer is accepted at once to launch a node daemon (a pbs_mom)
// that keeps its slot; the job starts inside its daemons once it has them
// all, and daemons pass to the next queued job or are killed when none
// needs them. Nothing is given back on a timeout. Holding offers unused
// and releasing them every HoldTimeout keeps whole agents idle and lets
// elastic frameworks take the nodes a gang was waiting for, so a gang of
// one-per-node tasks can wait for many minutes under DRF; acquiring keeps
// what it got and waits only for the nodes still missing.
//
// Two queue flavours share this code: the default lets a job that timed out
// step behind the others (so a big job does not block small ones), while
// StrictFIFO keeps the head of the queue gathering until it runs, as a batch
// queue does; package torque is that flavour.
//
//	s, err := mpi.New(mpi.Config{Cluster: total, Jobs: []mpi.Job{{ID: "j1", Tasks: 8,
//		TaskResources: mezzo.Cpus(4), Duration: time.Hour}}})
package mpi
