// Package workloads is the explicit registry of mezzo's frameworks: the
// custom executors by kind ([Executors]) and the schedulers by name
// ([Schedulers]) that `mezzo run NAME`, `mezzo demo` and `mezzo sim
// --framework NAME` build.
//
// The frameworks themselves live in the sub-packages (pi, spark, mpi,
// torque, service, hadoop); each is a [mezzo.Scheduler] that imports only
// the root package, so it runs unchanged in the simulator and the runtime.
// This package adapts them to one shape, [Framework]: the scheduler, the
// FrameworkInfo to register with, and accessors for reports.
//
//	f, ok := workloads.Schedulers()["pi"]
//	fw, err := f.New(workloads.Options{Seed: 1, Agents: 3, AgentResources: res}, []string{"-tasks", "20"})
//	// run fw.Scheduler under a driver registered with fw.Info; then
//	fmt.Println(fw.Summary())
//
// No init() registration: adding a framework means adding a line to
// [Schedulers] (and to [Executors] when it brings its own executor).
package workloads
