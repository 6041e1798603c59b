// Package pi is the article's Figure 2 framework: a scheduler that splits the
// estimation of π into N tasks and a custom executor that runs them.
//
// Each task carries its number of samples in TaskInfo.Data (decimal text)
// and names the "pi" executor kind. The [Executor] draws that many points
// in the unit square from a generator seeded by the task ID (so a task's
// answer is reproducible anywhere), counts those inside the quarter circle,
// and reports TASK_FINISHED with 4·inside/samples in the status Data (decimal
// text, exact round trip). The [Scheduler] launches as many tasks as fit in
// each offer, declines what it cannot use, retries tasks that fail or are
// lost, averages the estimates it receives, and stops the framework when
// every task has answered.
//
// The same code runs in both worlds: the simulator runs the Executor in
// process (set [Executor.Inline] there, so updates come back in the call
// that launched the task), the runtime starts it as a process through
// Config.ExecutorCommand (for example `mezzo executor pi`), where the
// sampling runs on its own goroutine.
//
//	s, err := pi.New(pi.Config{Tasks: 10, Samples: 1_000_000})
//	// run s under a driver ...
//	if s.Done() {
//		fmt.Printf("Pi is roughly %f\n", s.Estimate())
//	}
package pi
