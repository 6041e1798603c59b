// Package executor runs a [mezzo.Executor] in an executor process under a
// mezzo agent, and provides the default command executor.
//
// An agent starts each executor as a process with these environment
// variables (see [ConfigFromEnv]): MEZZO_AGENT_ENDPOINT (the agent's
// ExecutorAPI address), MEZZO_FRAMEWORK_ID, MEZZO_EXECUTOR_ID,
// MEZZO_SANDBOX (the executor's working directory), MEZZO_AGENT_CA (a PEM
// file in the sandbox: the CA of the agent's TLS certificate, which Run
// verifies; unset, Run dials without TLS) and MEZZO_EXECUTOR_TOKEN_FD: the
// number of an inherited descriptor, a pipe holding the executor's token
// (a per-executor secret the agent checks on every call). The token is not
// in the environment, which any process of the same host user can read;
// ConfigFromEnv makes the process non-dumpable (so its memory, descriptors
// and /proc files are closed to such processes, its own tasks included)
// before it reads the token, closes the descriptor and removes the
// variable, and the command executor's tasks inherit neither. The process
// then calls
//
//	cfg, err := executor.ConfigFromEnv()
//	...
//	err = executor.Run(ctx, cfg, myExecutor)
//
// Run subscribes to the agent over gRPC and calls the Executor's methods one
// at a time, in event order, on one goroutine; the [mezzo.ExecutorDriver] it
// hands over may be used from any goroutine. Status updates get a uuid and
// are delivered in order, each retried until the agent has stored it; Stop
// returns Run once every update is delivered.
//
// The executor outlives its agent: while the agent is unreachable (crashed,
// or restarting for an upgrade) Run keeps re-subscribing and buffers the
// updates, for up to Config.ReconnectTimeout (MEZZO_RECOVERY_TIMEOUT, set
// by the agent's --executor-recovery-timeout); an agent that comes back on
// the same work directory recovers the executor and receives the buffered
// updates, each stored once. If the agent does not come back, or refuses the
// executor, Run calls the Executor's Shutdown (the command executor kills
// its tasks) and returns the error.
//
// [Command] is the default executor: it runs a task's CommandInfo as a
// process (TASK_FINISHED on exit 0, TASK_FAILED with the code otherwise),
// stands a task with no command for its Duration (a no-op for benchmarks),
// and kills with SIGTERM then SIGKILL after a grace period (TASK_KILLED).
// It rotates each task's output as Mesos's LogrotateContainerLogger does:
// task-<id>.stdout and .stderr in the sandbox (0600) are the current files, at
// most MEZZO_LOG_MAX_SIZE bytes each (default 10 MiB), and the
// MEZZO_LOG_MAX_FILES (default 2) before them are kept as .1 (newest),
// .2, ...; older output is dropped.
package executor
