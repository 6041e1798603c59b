// Package bench measures the real runtime under load: a real master on
// loopback, many emulated agents in this process (each a real gRPC client
// with its own event stream, registration, pings and status updates; see
// agent.Config.Emulated), and frameworks that are real scheduler drivers
// (runtime/driver) running a benchmark scheduler.
//
// Usage:
//
//	res, err := bench.RunLaunch(ctx, bench.LaunchConfig{Agents: 1000, Frameworks: 2, Tasks: 20000})
//	res.WriteTable(os.Stdout) // or json.Marshal(res): {"benchmark":"launch","agents":1000,...}
//
// `mezzo bench launch` is the command-line front; BenchmarkLaunch the Go
// benchmark CI compares with benchstat (tasks/s, launch-p99-ms,
// offer-p99-ms, offer-p50-ms, heap-B/agent).
//
// # The launch benchmark
//
// StartCluster starts the master (port 0 on 127.0.0.1) and the agents, and
// waits until the master counts all of them. Then F frameworks subscribe;
// each owns Tasks/F no-op tasks (TaskInfo.Duration, no process) and, on
// every offer, launches as many as fit in one accept, until its quota is
// launched; then it suppresses offers and declines what still arrives. An
// offer with room for no task is declined with the default filter. The run
// ends when every task's terminal update has reached its scheduler; the
// allocator must then come back to its starting totals (nothing offered,
// nothing used) once the last offers are declined.
//
// # What is measured, and how
//
//   - Tasks per second (overall): Tasks divided by the time from starting
//     the first driver to the last task's terminal update at a scheduler.
//     Subscription and the first allocation are inside that window.
//   - Launches per second: tasks that reached TASK_RUNNING divided by the
//     time from the first accept sent to the last TASK_RUNNING callback.
//   - Launch latency, per task: the accept carrying it is sent (just before
//     Driver.LaunchTasks) → its TASK_RUNNING callback runs at the
//     scheduler. It covers the accept's trip through the master's loop, the
//     launch event to the agent, the agent's update back through the master
//     and the driver's queue of callbacks.
//   - Offer latency: resources freed → offered again. The free is timed
//     where it starts: the moment an agent sends a task's terminal status
//     update (a wrapper on the agents' gRPC connection sees the Update call
//     leave; resent updates are counted once). The offer is timed when a
//     framework's ResourceOffers callback starts. An offer on an agent is
//     matched with the oldest unmatched frees on that agent, at most as
//     many as the offer has room for tasks; matching oldest first can only
//     make the figure larger. The latency so includes the update's trip to
//     the master, its wait in the master's inbox, the allocation, the offer
//     event's trip and its wait in the driver's callback queue: what a
//     framework experiences, not the allocator's share alone. Offers that
//     match no free (first offers after registration) are not samples;
//     frees no offer follows (the last tasks, once every framework has
//     suppressed) are not either.
//   - Quantiles are nearest-rank over all samples (p50, p90, p99, max).
//   - Memory per agent: the live heap after a GC once all agents are
//     registered, minus the same before the first agent, divided by N. The
//     master runs in the same process, so its record of each agent and the
//     server side of each agent's stream are included; so are goroutines
//     per agent.
//   - CPU: getrusage(RUSAGE_SELF) user+system over the overall window. It
//     is the whole process (master, agents, drivers, both ends of gRPC),
//     not the master alone; CPUUtilisation is cores busy on average.
//
// # The offer-latency benchmark (RunOffers, `mezzo bench offers`)
//
// Frameworks with no quota keep every slot busy with no-op tasks whose
// durations come from a distribution (Dist: fixed, normal clipped at 0,
// exponential); each freed slot is reused as soon as it is offered. The
// load asked for is so slots ÷ mean duration tasks/s (OfferedLoad), set
// by the agents' resources and the distribution: keep it well under the
// launch throughput to measure latency below saturation. Only a window
// after a warm-up is measured (samples whose start falls in it), so the
// first wave of launches, all at once, is left out. Besides the
// latencies it reports offers/s, tasks/s, the allocation cycles run
// (count, mean, max) and the master loop's busy time per task, read from
// master.LoopStats: the time the loop spent running messages and
// allocation cycles, i.e. the master's serial cost apart from the agents
// and frameworks that share the process. WriteBenchFormat prints it as a
// Go benchmark line for benchstat; BenchmarkOffers is the same at a fixed
// small size for `make bench`.
//
// # The scalability experiment (RunScalability)
//
// One point of the Mesos paper's Figure 10: F frameworks keep N agents
// of two slots busy with exponential 30 s tasks; once 95 % of the slots
// run tasks (or FillTimeout passes: the row's Busy says how full it
// was), the master is watched for Window to take its cost per task
// placed; then probe frameworks, one at a time, subscribe and launch one
// no-op task, and the row has the median subscribe → first offer →
// TASK_RUNNING. The probe's task is a no-op, so nothing is subtracted for
// its own time. Under DRF the probe's share is 0, so it comes first on
// every agent whose resources are freed; with 30 s tasks on 2N slots that
// is 2N/30 agents a second, so its first offer is a matter of
// milliseconds unless a queue in front of the master's allocation (the
// inbox, the agents' updates) holds it. `mezzo experiment scalability`
// runs the points, and with --sim the same shape in the simulator
// (sim/experiments.SimulateScalability), and draws both curves.
//
// With ScalabilityConfig.MasterCommand (the command's default,
// --master-process) the master is a child process (`mezzo master`, see
// masterproc.go), as on a machine of its own: in one process with 50,000
// emulated agents its loop was one goroutine among more than 100,000 and
// spent most of its wall time waiting to be scheduled or helping the
// collector mark the agents' heap (8.5 ms of loop time per decision at
// 50,000 agents against 0.17 ms at 20,000, with the loop's CPU a twelfth
// of the process's). The row then reports the master process's CPU per
// decision (/proc), its mean inbox wait and allocation cycles (its
// /metrics) and its resident memory. The child runs with --rate-limit 0:
// the benchmark's frameworks share the anonymous principal, whose default
// 100 calls/s would throttle them all together, the probe among them.
//
// # Comparing runs (Compare, `mezzo bench compare`, `make bench-compare`)
//
// Compare reads two files of Go benchmark output and reports the gated
// metrics whose median got worse by more than an allowance: the larger of
// a fixed threshold (20 % by default) and the spread, (max − min) ÷
// median, of either file's runs of that benchmark. The spread term is
// what accounts for noise: latency of a real master on a shared 2-core
// machine varies by tens of percent between runs of the same binary,
// allocator cycles by a few percent, so each metric is judged against its
// own variability rather than one number for all.
//
// # Pings
//
// Benchmark clusters ping agents every 15 s, the master's default
// (Mesos's agent_ping_timeout), unless the master configuration says
// otherwise. The master spreads the pings over the interval and answers
// pongs off its loop, so at 50,000 agents liveness is 3,333 small events
// and Pong calls a second but no loop turns.
//
// # Reading the figures
//
// With TaskDuration 0 the benchmark is a closed loop that keeps every slot
// busy (a slot is room for one task on an agent), so it measures
// throughput at saturation, and its latencies obey Little's law: a task or
// a freed slot waits about slots ÷ throughput (8,000 slots at 4,000
// tasks/s: 2 s), in whichever queue is longest. To read offer latency
// below saturation, give the agents fewer slots and the tasks a duration
// so that slots ÷ duration stays under the throughput (e.g. 1,000 agents
// of one slot, 2 s tasks: at most 500 launches/s).
//
// CPUPerTaskMS is the figure least disturbed by other load on the machine:
// the throughput a dedicated machine reaches is about its cores divided by
// it.
package bench
