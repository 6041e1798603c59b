// Package hadoop is a MapReduce framework for mezzo: it runs jobs of map and
// reduce tasks (traces.Job) with delay scheduling (Zaharia et al., EuroSys
// 2010), as the Hadoop instances of the Mesos paper's experiments did.
//
// Each task takes one slot (Config.Slot); an offer is filled with as many
// slots as fit. Map i of a job reads block i of the job's input, whose
// replicas a [Storage] locates; the framework learns each agent's rack from
// the "rack" attribute of its offers. For every slot, jobs are tried in FIFO
// or fair order; a job with no map whose block is on the offered agent skips
// the slot, up to Config.NodeDelay, before taking a rack-local one, and up to
// Config.RackDelay more before taking any. Reduces start once
// Config.ReduceSlowstart of the job's maps have finished. Failed, lost or
// killed tasks are retried. When nothing can run, the framework declines
// with a short filter (Config.Refuse) and suppresses offers; it revives
// when work arrives.
//
//	fw, err := hadoop.New(hadoop.DefaultConfig(), storage)
//	// register fw with a driver, then, at each job's submit time:
//	fw.Submit(job)
//	// ... fw.Records() lists submit, start and finish times and locality.
//
// Every task carries Labels{"job": ID} (one map shared by the job's tasks:
// read it, do not modify it), which the simulator uses for its per-job rows.
//
// The package imports only the root package and traces (for the Job type),
// so the same code runs in the simulator and against a real master.
package hadoop
