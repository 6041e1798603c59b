package mezzo

// Executor runs a framework's tasks on an agent. A custom executor (the π
// executor, for one) is an Executor registered under a kind name: the
// simulator runs it in-process, the runtime in its own process under the
// agent. Calls into one Executor are never concurrent.
type Executor interface {
	// Registered is called once the executor is connected to its agent.
	Registered(d ExecutorDriver, info ExecutorInfo, framework FrameworkID, agent AgentID)
	// LaunchTask starts a task. The executor reports TASK_RUNNING and,
	// later, a terminal state through d. It should not block for the
	// task's whole life: long work goes on its own goroutine, which may
	// call d at any time.
	LaunchTask(d ExecutorDriver, task TaskInfo)
	// KillTask asks the executor to stop a task and report TASK_KILLED.
	KillTask(d ExecutorDriver, id TaskID)
	// FrameworkMessage delivers data sent by the scheduler.
	FrameworkMessage(d ExecutorDriver, data []byte)
	// Shutdown asks the executor to kill all its tasks and exit.
	Shutdown(d ExecutorDriver)
}

// ExecutorDriver is how an Executor reports back. It is safe to call from
// any goroutine.
type ExecutorDriver interface {
	// SendStatusUpdate reports a task's new state, with optional data.
	// Updates of one task are delivered to the scheduler in order.
	SendStatusUpdate(status TaskStatus) error
	// SendFrameworkMessage sends data to the scheduler.
	SendFrameworkMessage(data []byte) error
	// Stop ends the executor once its updates are delivered.
	Stop() error
}
