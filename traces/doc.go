// Package traces turns workload data into jobs for mezzo's frameworks: the
// SWIM Facebook 2009 trace (embedded, or any SWIM file on disk) and a
// synthetic generator of Facebook-like job sizes.
//
// Everything yields the same [Job] through the streaming [Source] interface,
// so a trace larger than memory replays without being loaded:
//
//	src, closer, err := traces.Open("swim:fb2009", traces.Options{})
//	if err != nil { ... }
//	defer closer.Close()
//	for {
//		job, err := src.Next()
//		if errors.Is(err, io.EOF) { break }
//		if err != nil { ... } // a *ParseError naming file:line and the problem
//		...
//	}
//
// [Open] accepts "swim:fb2009", "swim:<path>", "synthetic:fb",
// "google:<path>" (Google 2011 task_events), "alibaba:<path>" (Alibaba 2018
// batch_task) or a path to a SWIM file; [Specs] lists them for help text.
// The cluster traces also stream per-task demands as [ClusterJob]s through
// [GoogleReader] and [AlibabaReader]; their doc comments give the mapping. [ReadAll] collects a Source
// into a slice when it fits in memory.
//
// # From bytes to tasks
//
// The traces record bytes, not task counts or times. A [TaskModel] derives
// both: maps from input bytes and the HDFS block size, reduces from shuffle
// plus output bytes and a per-reducer share, durations from a per-task
// overhead plus bytes over a throughput. Its defaults are Hadoop-era numbers,
// justified field by field on TaskModel; change them through [Options].
// Durations are base speeds, with input read locally; the simulator's
// cluster model decides how much slower a remote read is.
//
// # Which workload for what
//
// With 64 MiB blocks, 86 % of the SWIM day's jobs have a single map, more
// than the 39 % of the delay scheduling paper's size bins. Use the synthetic
// generator ("synthetic:fb", [FacebookBins]) to reproduce the papers'
// experiments and the SWIM day for trace replay.
//
// # Licence
//
// The embedded SWIM data is © 2011 the Regents of the University of
// California under the New BSD licence, which asks that the notice travel
// with it: [SWIMLicense] returns the text for a command to print.
//
// The package imports only the standard library.
package traces
