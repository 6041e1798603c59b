// Package spark is a framework for iterative jobs in the style of Spark's
// logistic regression: each job runs the same step over its partitions
// several times, with a barrier between iterations.
//
// The first iteration reads each partition's input block from the file
// system (TaskInfo.Input names it, so the simulator charges the read) and
// takes FirstDuration. The agent that computed a partition caches it, and
// later iterations are short (IterDuration) when they run there: the paper
// measured 174 s for the first iteration against about 6 s for later ones
// (29 GB on 20 nodes). The scheduler therefore prefers, for each partition,
// the agent that caches it; like delay scheduling, a job that has no cached
// partition for an offer waits up to LocalityWait before running one
// elsewhere, where it is recomputed from its input block (FirstDuration
// again) and cached anew. Jobs share offers first come, first served.
//
//	s, err := spark.New(spark.Config{Jobs: []spark.Job{{ID: "lr", Iterations: 10,
//		Blocks: blocks, FirstDuration: 174 * time.Second, IterDuration: 6 * time.Second}}})
package spark
