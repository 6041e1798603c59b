// Package torque is the batch-queue flavour of the rigid-job framework in
// package mpi, as the paper ran Torque on Mesos: jobs wait in a strict FIFO
// queue, the oldest gathers all its nodes before any later job may start,
// and the framework is capped at a quarter of the cluster by default. Like
// the paper's framework it acquires nodes as they are offered, launching a
// node daemon on each (mpi.Config.AcquireNodes), and starts a job once all
// its nodes are up; HoldOffers selects mpi's offer-holding gang instead.
//
// It is a separate name, not separate logic: New fills in the Torque
// defaults and returns an *mpi.Scheduler, so both share the gang code, its
// tests and its results accessors.
//
//	s, err := torque.New(torque.Config{Cluster: total, Jobs: jobs})
package torque
