// Package api is the wire contract of the mezzo runtime: the protobuf
// messages and gRPC services of the three conversations of Mesos, and the
// conversions between those messages and the root mezzo types.
//
// The .proto files beside this file are the source; the *.pb.go files are
// generated from them and committed (regenerate with `make proto`, which
// pins protoc 3.21.12 and the Go plugins). Generated code lives in this
// package itself (go_package "github.com/mezzo-cluster/mezzo/runtime/api;api"),
// so callers import one package for messages, services and conversions.
//
// The services, and who serves whom:
//
//   - [SchedulerAPIServer] (scheduler.proto) is served by the master and
//     called by the scheduler SDK: Subscribe (server stream of
//     [SchedulerEvent]), Accept, Decline, Revive, Suppress, Kill,
//     Acknowledge, Reconcile, Message, Teardown.
//   - [AgentAPIServer] (agent.proto) is served by the master and called by
//     agents: Subscribe (server stream of [AgentEvent]: launch, kill,
//     shutdown executor/framework, forwarded acknowledgements, messages,
//     pings), Register (Subscribe with the registration in parts), Update,
//     Message, ExecutorExited, Pong, Unregister.
//   - [ExecutorAPIServer] (executor.proto) is served by each agent and called
//     by its executors: Subscribe (server stream of [ExecutorEvent]), Update,
//     Message.
//
// Each Subscribe's first event names the session (stream_id / session_id)
// the caller repeats in its unary calls, so a master can tell a stale
// connection from the current one. Errors are gRPC status codes, listed on
// [Empty] in mezzo.proto.
//
// Status updates are at least once: executors and agents attach a uuid, the
// agent stores each update on disk and resends it until the scheduler's
// Acknowledge comes back as an [AgentEvent_Acknowledge]; masters and
// schedulers must tolerate duplicates.
//
// Bounds (limits.go): what a framework or an agent may put in a message,
// checked by the master with ValidateFrameworkInfo, ValidateTaskInfo and
// ValidateAgentInfo, chosen so that every event a master sends (a launch
// is one accept's tasks and a FrameworkInfo) stays far under
// AgentRecvLimit, the receive limit of agents and executors; Clip shortens
// a peer's string for a log line.
//
// Conversions: XToProto(mezzo.X) *X and XFromProto(*X) (mezzo.X, error) for
// Resources, TaskInfo (Task*), TaskStatus (Status*), TaskState (State*),
// Offer, FrameworkInfo (Framework*), Filters, CommandInfo (Command*),
// ExecutorInfo (Executor*) and attributes. Scalars travel as integer
// thousandths, exactly the root package's resolution, so conversions are
// lossless; durations and instants are int64 nanoseconds.
package api
