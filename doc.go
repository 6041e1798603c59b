// Package mezzo is the vocabulary shared by every part of mezzo: identifiers,
// resources, offers, tasks and their states, and the framework contract.
//
// mezzo is a Go implementation of the Mesos design (Hindman et al., NSDI 2011):
// a master offers resources to frameworks, each framework decides which offers
// to take and which tasks to run on them (two-level scheduling), and an
// operator-chosen policy decides who is offered what.
//
// The contract lives here so that one framework runs unchanged in both worlds
// mezzo drives: the virtual-time simulator (package sim) and the real runtime
// (packages under runtime/). A framework implements [Scheduler] and talks back
// through the [Driver] it is handed; a custom executor implements [Executor]
// and reports through its [ExecutorDriver]. Both worlds implement the drivers.
//
// This package imports only the standard library.
package mezzo
