// Package sweep runs the cross product of simulator settings — traces,
// job counts, policies, cluster sizes, hadoop delays and sharing, seeds —
// on all cores, one CSV row per run, and resumes an interrupted sweep
// without redoing finished runs. It is what `mezzo sweep` calls.
//
//	st, err := sweep.Run(ctx, sweep.Config{
//		Axes: sweep.Axes{Traces: []string{"synthetic:fb"}, Jobs: []int{200},
//			Policies: []string{"drf", "tetris"}, Agents: []int{100},
//			Delays: []time.Duration{5 * time.Second},
//			Sharings: []hadoop.Sharing{hadoop.FIFO}, Seeds: []uint64{1, 2, 3}},
//		Base: runspec.Spec{Frameworks: []string{"hadoop", "hadoop"}},
//		Out:  "sweep.csv",
//	})
//
// Each run is built by package runspec and runs single-threaded on one
// worker goroutine; Workers of them (runtime.NumCPU() by default) go at
// once. A run is deterministic, so its row is the same bytes whatever the
// worker count or the order runs finish in.
//
// # Validation
//
// Every axis value is checked before any run starts: an unknown policy or
// framework, agents below 1, a negative delay, an empty axis, a value given
// twice, a trace that does not open or parse. All problems are reported in
// one error. [ParseInts], [ParseSeeds], [ParseDurations], [ParseSharings]
// and [ParseList] parse flag values ("1..10,20" is eleven values) with
// errors naming the flag and the bad item.
//
// # CSV
//
// One row per run. The columns are [KeyColumns] (trace, jobs, policy,
// agents, delay, sharing, seed: the run's identity, formatted canonically,
// delay as a Go duration such as "5s"); then status ("ok", "cut": work
// left at the horizon, metrics up to there, "failed": the run could not
// be built, metrics empty), error (one line), and the run's totals
// jobs_total, jobs_done, virtual_s, events, tasks, rejected, offers,
// cpu_util; then, for each framework instance F ("hadoop", "hadoop-2",
// ...), F.jobs, F.done, F.mean_jct_s, F.p95_jct_s, F.tasks, F.locality,
// F.mean_share, F.cpu_util, as in sim.Summary. Numbers are written
// exactly (shortest round-trip form). Wall time is deliberately absent: it
// would make rows differ between identical runs.
//
// # Order, interruption and resume
//
// While a sweep runs, rows are appended in completion order, each as one
// write of a whole line followed by fsync, after which the run counts as
// done. When every run of the plan is in the file, the file is rewritten
// (temporary file and rename) in plan order ([Axes.Expand]: trace
// outermost, seed innermost), so a finished sweep's CSV is byte-identical
// whatever the worker count and however often it was interrupted.
//
// On start, Run reads the CSV if it exists: its header must be this
// sweep's (same frameworks), rows whose key is in the plan are skipped,
// and rows outside the plan (an earlier sweep over other values) are kept.
// A last line without its newline, or one that does not parse, is what an
// interrupted write leaves: it is dropped and its run redone. A malformed
// line anywhere else is an error naming the file and line.
//
// Cancelling the context stops new runs from starting; runs in flight
// finish and are written, since a simulation cannot stop half way.
package sweep
