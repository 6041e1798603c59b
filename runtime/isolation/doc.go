// Package isolation runs an executor's process inside a container that limits
// the CPU, memory and processes it may use, so that tasks sharing an agent
// cannot starve each other (Section 3.4 of the Mesos paper: "isolation
// between frameworks").
//
// The agent picks an [Isolator] by name with [New]:
//
//   - "cgroups" puts every container in its own cgroup under a parent cgroup
//     (default "mezzo"), using containerd/cgroups v3: cgroup v1 (cgroup1) on
//     legacy and hybrid hosts, cgroup v2 (cgroup2) on unified hosts. It needs
//     root and a mounted cgroup file system.
//   - "process" runs plain processes in their own process group. It does not
//     isolate anything; it exists so the runtime can be developed without root.
//     It keeps no record of its containers, so Recover adopts the known ones
//     that still run and cannot find any other leftovers to remove.
//
// Typical use by the agent:
//
//	iso, err := isolation.New("cgroups", isolation.Options{})
//	adopted, removed, err := iso.Recover(handles) // a previous agent run's containers:
//	                                              // the known live ones adopted, the rest removed
//	c, err := iso.Start(executorID, cmd, isolation.LimitsFor(resources))
//	...
//	err = c.Update(isolation.LimitsFor(moreResources)) // a task joined the executor
//	<-c.OOM()                              // closed when the kernel OOM-kills any process of it
//	info, err := c.Wait()                  // info.OOMKilled → "memory limit" failure
//	err = c.Destroy()                      // kills what is left, removes the cgroup
//
// Limits.Pids is the container's pids.max (cgroup v1 and v2 alike: the
// pids controller is required), so a fork bomb stops at it and Kill still
// ends it. Limits.FileSize is an rlimit (RLIMIT_FSIZE) set on the started
// process before it runs, through the same held shim the v1 start uses;
// the cgroups isolator enforces it, the process isolator, which limits
// nothing, ignores it with the rest.
//
// An agent that checkpoints each container's Handle (HandleOf, after Start)
// can restart without disturbing its executors: the next run passes the
// handles to Recover and gets the containers back. Their processes are not
// its children, so an adopted container's Wait observes the end (a pidfd
// for the process isolator, the cgroup emptying for cgroups) and reports
// ExitInfo.Unknown instead of an exit status; OOM kills are still seen.
package isolation
