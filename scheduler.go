package mezzo

import "time"

// Scheduler is a framework's scheduler: the code that receives offers and
// decides which tasks to run on them. The same Scheduler runs unchanged in the
// simulator and in the real runtime.
//
// Callbacks of one framework are never run concurrently: each world delivers
// them one at a time, in order, on behalf of that framework (timer functions
// set through [Driver.AfterFunc] included), so framework code needs no locks.
// A callback should return promptly; work that takes time belongs in tasks.
type Scheduler interface {
	// Registered is called once the framework is registered (or
	// re-registered after a master failover) with its ID.
	Registered(d Driver, id FrameworkID)
	// ResourceOffers hands the framework new offers. Each must be accepted
	// (LaunchTasks) or declined; until then its resources stay allocated
	// to this framework.
	ResourceOffers(d Driver, offers []Offer)
	// OfferRescinded says an offer is no longer valid.
	OfferRescinded(d Driver, id OfferID)
	// StatusUpdate reports a task's change of state.
	StatusUpdate(d Driver, status TaskStatus)
	// FrameworkMessage delivers data sent by one of the framework's
	// executors.
	FrameworkMessage(d Driver, executor ExecutorID, agent AgentID, data []byte)
	// AgentLost says an agent is gone; its tasks are reported lost too.
	AgentLost(d Driver, id AgentID)
	// Error reports an unrecoverable error; the framework is not
	// registered any more.
	Error(d Driver, message string)
}

// Driver is how a Scheduler talks back to the master. The simulator
// implements it in virtual time, the runtime over gRPC in wall time. Methods
// may be called from callbacks and timer functions; they do not block on the
// master. An error means the call was not sent (driver stopped, bad
// argument); refusals by the master arrive as status updates or Error.
type Driver interface {
	// LaunchTasks accepts offers (all on one agent) and launches tasks on
	// them. Resources the tasks do not use are recovered with filters f.
	// Launching no tasks declines the offers. Tasks that cannot be sent
	// (the runtime's driver is between masters) come back TASK_LOST with
	// ReasonMasterDisconnected.
	LaunchTasks(offers []OfferID, tasks []TaskInfo, f Filters) error
	// DeclineOffer gives an offer back, filtering its agent for f.Refuse.
	DeclineOffer(id OfferID, f Filters) error
	// ReviveOffers clears every filter and ends suppression.
	ReviveOffers() error
	// SuppressOffers stops offers until ReviveOffers.
	SuppressOffers() error
	// KillTask asks for a task to be killed; a TASK_KILLED update follows.
	KillTask(id TaskID) error
	// AcknowledgeStatusUpdate confirms receipt of an update that carries
	// a UUID, so its agent stops resending it. Worlds that deliver
	// updates reliably on their own treat it as a no-op.
	AcknowledgeStatusUpdate(status TaskStatus) error
	// ReconcileTasks asks for the latest state of the listed tasks, or of
	// all the framework's tasks when the list is empty; answers come as
	// status updates.
	ReconcileTasks(tasks []TaskStatus) error
	// SendFrameworkMessage sends data to one of the framework's executors.
	SendFrameworkMessage(executor ExecutorID, agent AgentID, data []byte) error
	// Stop unregisters the framework. With failover, the master keeps its
	// tasks for the failover timeout so a new scheduler may take over.
	Stop(failover bool) error
	// Now is the world's clock: virtual in the simulator, wall time in
	// the runtime.
	Now() time.Time
	// AfterFunc runs f after d on the world's clock, serialised with the
	// framework's callbacks.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop cancels the timer; it reports false if the function already ran
	// or was stopped.
	Stop() bool
}
