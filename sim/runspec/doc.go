// Package runspec describes one simulator run as data — trace spec, cluster
// size, policy, frameworks, seed, hadoop's delay — and turns it into a ready
// [sim.Simulation]. It is the run assembly shared by commands that run the
// simulator (`mezzo sweep` today; `mezzo sim` can switch to it), so a run
// means the same thing whichever command starts it.
//
//	spec := runspec.Spec{Trace: "synthetic:fb", Jobs: 50, Agents: 100,
//		Policy: "drf", Frameworks: []string{"hadoop", "hadoop"}, Seed: 1,
//		Delay: runspec.DefaultDelay}
//	if err := spec.Validate(); err != nil { ... } // before any work
//	s, err := spec.New()                            // reads the trace, builds
//	res, err := s.Run()
//
// # Frameworks and jobs
//
// Frameworks are named by kind: "hadoop" (built here, because it reads its
// input from the simulation's DFS) or any other name in
// workloads.Schedulers(), built with its defaults. A kind given twice runs
// twice; instances are named "hadoop", "hadoop-2", ... ([InstanceNames]).
// The trace's jobs are dealt round-robin across the hadoop instances only
// ([Deal]): the other frameworks build their own work and run alongside.
//
// Building is deterministic: the same Spec and jobs give the same
// simulation, and a Spec holds nothing shared, so runs can be built and run
// on separate goroutines at once.
package runspec
