package mezzo

// Identifiers are plain strings so they print, sort and travel over the wire
// without ceremony; distinct types keep an agent ID from being passed where a
// task ID is expected.
type (
	// AgentID names an agent (a Mesos "slave"): one machine offering resources.
	AgentID string
	// FrameworkID names a registered framework.
	FrameworkID string
	// OfferID names one offer made to one framework for one agent.
	OfferID string
	// TaskID names a task; it is chosen by the framework and must be unique
	// within that framework.
	TaskID string
	// ExecutorID names an executor; unique within a framework on an agent.
	ExecutorID string
)
