// Package isolation runs an executor's process inside a container that limits
// the CPU and memory it may use, so that tasks sharing an agent cannot starve
// each other (Section 3.4 of the Mesos paper: "isolation between frameworks").
//
// The agent picks an [Isolator] by name with [New]:
//
//   - "cgroups" puts every container in its own cgroup under a parent cgroup
//     (default "mezzo"), using containerd/cgroups v3: cgroup v1 (cgroup1) on
//     legacy and hybrid hosts, cgroup v2 (cgroup2) on unified hosts. It needs
//     root and a mounted cgroup file system.
//   - "process" runs plain processes in their own process group. It does not
//     isolate anything; it exists so the runtime can be developed without root.
//
// Typical use by the agent:
//
//	iso, err := isolation.New("cgroups", isolation.Options{})
//	removed, err := iso.Cleanup()          // containers left by a previous agent run
//	c, err := iso.Start(executorID, cmd, isolation.LimitsFor(resources))
//	...
//	err = c.Update(isolation.LimitsFor(moreResources)) // a task joined the executor
//	info, err := c.Wait()                  // info.OOMKilled → "memory limit" failure
//	err = c.Destroy()                      // kills what is left, removes the cgroup
package isolation
