// Package sim is mezzo's virtual-time simulator: it runs the allocator
// (package alloc) and unmodified frameworks (mezzo.Scheduler) over a modelled
// cluster, so the Mesos paper's experiments can be replayed and policies
// compared without machines. Runs are deterministic: the same inputs and
// seeds give the same results, event for event.
//
// # Engine
//
// [Engine] is the discrete-event core. Callbacks are scheduled with
// [Engine.At] or [Engine.After] and run one at a time, in order of virtual
// time and, for equal times, the order they were scheduled in. The clock
// ([Engine.Now]) starts at [Epoch] (2011-03-30 00:00 UTC) and jumps from
// event to event; [Engine.Run], [Engine.RunUntil], [Engine.RunFor] and
// [Engine.Step] drive it on the caller's goroutine, with no goroutine per
// event or process. Each schedule returns a [Timer] whose Cancel stops the
// event. Scheduling does not allocate in steady state; BenchmarkEngine
// measures events per second with 100,000 events pending.
//
//	e := sim.NewEngine()
//	e.After(5*time.Second, func() { fmt.Println(e.Elapsed()) }) // 5s
//	e.Run()
//
// # Cluster
//
// [Cluster] is a fixed set of agents in racks, built from a [ClusterConfig]:
// by default each agent offers the Mesos paper's EC2 node ([DefaultAgentResources],
// 4 CPUs and 15 GB), racks hold [DefaultAgentsPerRack] agents, and every agent
// carries the attribute rack:NAME so frameworks can see topology in offers.
// Names are deterministic ("agent-0001", "rack-01"). Agent outages are data:
// a list of [Failure] values, read with [ParseFailures] and checked with
// [Cluster.CheckFailures], that the driver schedules on the engine.
//
// # Data and locality
//
// [DFS] models HDFS: files split into 64 MB blocks ([BlockSize]), each block on
// three distinct agents ([Replication]) drawn from a seeded *rand.Rand. Blocks
// are named "FILE/NNNN"; frameworks put these names in mezzo.TaskInfo.Input.
// [DFS.Locality] says whether an agent is [NodeLocal], [RackLocal] or [Remote]
// to a block, and [DFS.TaskDuration] stretches a task's base duration by the
// [ReadCost] factor of its worst-placed input block; the default factors and
// where they come from are documented on [ReadCost].
//
// # Driver and runs
//
// [World] is the master and its agents over the engine: it drives the
// allocator (batch cycle every [DefaultAllocationInterval], plus an
// incremental cycle, batched per instant, for agents whose tasks ended),
// hands each registered framework its own mezzo.Driver, validates launches
// as a Mesos master does (TASK_ERROR for bad offers, duplicate IDs, tasks
// over the offer), runs modelled tasks for [DFS.TaskDuration] and custom
// executors in-process (see the rule in executors.go), and plays agent
// failures. Every message takes [DefaultLatency] one way. [New] and
// [Simulation.Run] build a whole run (cluster, DFS inputs, policy by
// name, frameworks) and return a [Result] with per-job rows (measured from
// tasks labelled [JobLabel]), share samples and a summary, written by
// [Result.WriteDir].
package sim
