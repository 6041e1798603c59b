// Package agent is the mezzo agent (a Mesos "slave"): it offers one
// machine's resources to the master and runs the tasks frameworks launch
// there.
//
// Use:
//
//	a, err := agent.New(agent.Config{Master: "10.0.0.1:5050", WorkDir: "/var/lib/mezzo"})
//	...
//	err = a.Run(ctx) // until ctx ends
//
// What it does:
//
//   - Registers its resources (Config.Resources, or [DetectResources]) and
//     attributes with the master over gRPC (runtime/api AgentAPI), and
//     re-registers with the same agent ID, its running executors and tasks,
//     whenever the connection comes back (the ID is kept in WorkDir, so it
//     also survives a restart). With the ID the master issues a secret,
//     kept in WorkDir/agent-secret (0600, written atomically) and presented
//     at every re-registration: without it the master refuses the ID
//     (identity.go). The ID, the secret, the newest master epoch, the
//     executor checkpoints and the ExecutorAPI's address are files a
//     restarted agent depends on: one the disk refuses is held in memory,
//     logged once and written again until it is stored (statefiles.go).
//     A re-registration lists each task as the master keeps
//     it (no data, no command line); one over api.RegisterPartBytes goes
//     in parts through AgentAPI.Register (register.go). Events from the
//     master are taken up to api.AgentRecvLimit.
//   - Starts executors as processes, each in its own sandbox directory under
//     WorkDir/sandboxes (stdout and stderr files kept there), inside a
//     container of the configured isolator (runtime/isolation: "process" or
//     "cgroups") sized to the executor's and its live tasks' resources,
//     resized as tasks join and end: cpu follows them, memory and disk are
//     never lowered while the container runs (limits.go). Tasks
//     naming the same ExecutorInfo.ID of a framework share one executor. A
//     task with no executor runs under its own command executor
//     ([CommandKind]), which the agent starts by re-executing
//     Config.ExecutorPath (default: its own binary) with
//     Config.ExecutorArgs + "--kind", "command"; the binary serves that with
//     executor.RunKind and an explicit registry of kinds.
//   - Runs each executor, and its tasks, as the user the master authorized
//     (user.go; an agent that is not root cannot switch users, runs
//     everything as itself and says so). With Config.TaskUsers "isolated"
//     (the default) every container starts in a user namespace of its own
//     that maps that user to a host uid and gid allocated for the container
//     alone from Config.ContainerUIDs (containeruids.go): inside, the task
//     is the user it asked for; on the host no two containers share a uid,
//     so tasks of tenants that both run as nobody cannot read, signal or
//     ptrace each other, nor read each other's files. "host" runs tasks as
//     the real host users instead.
//   - Keeps the work dir closed (workdir.go): the directories down to the
//     sandboxes 0711, each sandbox 0700 and owned by its container's host
//     uid (root's again once its executor is reaped, before the uid can be
//     handed out again), the files in it 0600, everything else (agent ID,
//     checkpoints with tokens, status updates, the executor CA's key) 0600
//     and 0700; New tightens what an earlier version left looser.
//   - Serves executors the ExecutorAPI over TLS 1.3, with a certificate from
//     a CA of its own kept in WorkDir (executortls.go); each sandbox gets
//     the CA as agent-ca.crt (MEZZO_AGENT_CA) and each executor a token of
//     its own, checked on every call, handed over on a pipe
//     (executor.EnvExecutorTokenFD), never in the environment.
//   - Delivers status updates at least once: every update is written and
//     fsynced to its task's file under WorkDir/status (checksummed records,
//     the file named by a digest of the IDs: statusfile.go) before the
//     executor is told it is stored, and the head of each task's updates is
//     resent (backoff from Config.StatusRetry, 10 s by default, doubling to
//     StatusRetryMax) until the master forwards the scheduler's
//     acknowledgement. After a restart the stored updates are resent; a
//     torn last record is cut off, and a damaged file is moved aside
//     without keeping the agent down. An update the disk refuses is sent
//     from memory and its task failed (storefail.go).
//   - Survives its own restart (recover.go, Mesos's --recover=reconnect):
//     executors outlive a crashed agent (and, with Config.DetachOnStop, a
//     stopped one). Each executor's framework, ExecutorInfo, token,
//     sandbox, host uid, container handle (pid and start time), size
//     and tasks are checkpointed under WorkDir/executors, and the ExecutorAPI's address
//     in WorkDir, so the next run listens where the executors look for it.
//     The next run adopts the containers that still run
//     (isolation.Isolator.Recover), gives their executors
//     Config.ExecutorReregisterTimeout (5 s) to reconnect, kills those that
//     do not, and re-registers with the recovered tasks as running.
//     Updates an executor sent while the agent was down are resent by the
//     executor and stored once. A task the agent has no word of gets its
//     launch sent again (it may have been queued in the previous run's
//     memory); executors ignore a launch of a task they already have.
//     Tasks whose executors are gone are reported
//     TASK_LOST (REASON_AGENT_RESTARTED), unless their end is already
//     stored; no task gets two terminal states. Config.Recover "cleanup"
//     kills the previous run's executors instead. An adopted executor's
//     exit status is unknown (it is not the agent's child), so its
//     unfinished tasks fail with that said.
//   - Reports a task whose container hit its memory limit as TASK_FAILED
//     with mezzo.ReasonMemoryLimit. A command executor's terminal update is
//     held until its process is reaped for that reason: only then does the
//     container tell whether the kernel's OOM killer struck. An OOM kill
//     of any process of a container (cgroup v1 kills only the biggest)
//     is seen while it runs, and the agent destroys the container, as
//     Mesos's memory isolator does: its tasks fail for the memory limit,
//     also a command whose shell would have exited 0 (limits.go).
//   - Gives every container Config.ContainerPidsMax processes (pids.max,
//     default 1024).
//   - Holds each sandbox to the disk of its executor and tasks, as Mesos's
//     disk/du isolator with --enforce_container_disk_quota: measured every
//     Config.ContainerDiskWatchInterval (15 s) and when the executor
//     ends, a container over it is destroyed and its tasks fail with
//     mezzo.ReasonDiskLimit (disk.go). A command executor with disk also
//     has it as RLIMIT_FSIZE, and rotates its task's stdout and stderr
//     (Config.ContainerLogMaxSize, ContainerLogMaxFiles; runtime/executor).
//   - Removes the sandboxes of ended executors after Config.GCDelay (one
//     week), sooner as the work dir's disk fills (Config.GCDiskHeadroom,
//     DiskWatchInterval), as Mesos's gc_delay and gc_disk_headroom; a
//     restarted agent schedules the leftovers of executors it did not
//     adopt by their age (gc.go).
//
// Config.Emulated makes an agent that starts no processes: a task is
// TASK_RUNNING at once and TASK_FINISHED after its Duration, from timers,
// with updates kept in memory (unless WorkDir is set). Many emulated agents
// fit in one process for benchmarks; give them one shared Config.Conn.
package agent
