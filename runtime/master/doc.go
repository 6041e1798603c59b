// Package master is the mezzo master: it owns the allocator, keeps track of
// frameworks, agents, tasks and offers, and serves the SchedulerAPI and
// AgentAPI of runtime/api over gRPC.
//
// Usage:
//
//	m, err := master.New(master.Config{Listen: "127.0.0.1:0", Policy: "drf"})
//	addr, err := m.Start(ctx) // the bound address
//	...
//	snap, err := m.Snapshot(ctx) // allocator totals, per-framework stats
//	m.Stop()
//
// # Design
//
// One goroutine (Run, the loop) owns the alloc.Allocator and all master
// state. gRPC handlers hand it closures over a channel and wait for their
// result; events for schedulers and agents go into per-stream outboxes that
// the streams' own goroutines drain, so the loop never waits on the
// network. Full allocation cycles run every AllocationInterval (Mesos's
// 1 s); resources freed in between (a task ends, an accept leaves some over,
// an offer is declined) are offered at once, after the loop has drained the
// messages already waiting, so a burst of frees makes one incremental cycle.
//
// # Validation
//
// An Accept whose offers are unknown, rescinded, someone else's, repeated,
// or on different agents, or whose agent is not connected, drops all its
// tasks (TASK_DROPPED, REASON_INVALID_OFFERS) and gives its valid offers
// back unfiltered. A task that is malformed, has no or a duplicate ID, names
// another agent, or does not fit in what the offers have left gets
// TASK_ERROR (REASON_TASK_INVALID); so does one over a bound of
// runtime/api's limits.go (ID, name, data, labels, command, environment,
// executor, the whole task) or past api.MaxLaunchBytes of the accept's
// tasks, which reach the agent in one event; a subscription over the
// FrameworkInfo bounds (checked as the master keeps it, with its
// principal and ID) is refused (InvalidArgument). The others launch.
// The messages say what was wrong, and name the field and the bound; logs
// carry names clipped to api.ClipBytes. Whatever the launched tasks do not use returns to the
// allocator with the accept's filters, so nothing is lost.
//
// # Peers
//
// Callers authenticate through Config.ServerOptions (runtime/security's
// interceptors); on top of that the master admits certificates by the role
// bound in them (CertRoles): the AgentAPI takes agents' certificates only,
// the SchedulerAPI and the HTTP state and operator endpoints clients'
// only, so the agent certificate every agent host holds registers no
// framework, and a tenant's certificate no agent, whatever the ACL says of
// their principals. The sandbox proxy speaks only to servers with an
// agent's certificate. Each listener holds at most Config.MaxConnections
// connections, and one that has not completed its handshake (and, on
// HTTP, sent its headers) within Config.HandshakeTimeout is closed.
// Config.AuthFailures throttles and logs failed authentications per peer
// address across both protocols.
//
// # Agents and updates
//
// Agents are pinged every PingInterval (default 15 s, Mesos's
// agent_ping_timeout); one silent for PingTimeout (default 5 × the
// interval, Mesos's max_agent_ping_timeouts of 5: 75 s) is removed: its
// offers are rescinded, its live tasks reported TASK_LOST
// (REASON_AGENT_REMOVED) and every framework hears the agent is lost. An
// agent that comes back (same ID or new) is registered again; tasks it no
// longer runs are reported lost, tasks of known frameworks it still runs are
// adopted. Pings are spread over the interval (the agents whose share of
// the round has begun, every 100 ms), agents heard from within the
// interval are pinged only every third one, and pongs are stamped off the
// loop (liveness.go): liveness costs the loop at most one event per agent
// per interval and nothing per pong.
// An agent's identity is a secret the master issues with its ID at the
// first registration (agentid.go): the agent presents it at every
// re-registration, the master keeps its SHA-256 (in etcd too, with standby
// masters) and refuses a registration naming a bound ID without it
// (PermissionDenied), leaving the agent that holds the ID as it was. A
// master that does not know the ID binds the first secret it is shown.
// Agent IDs must be of the master's format, host names and attributes
// bounded (api.ValidateAgentInfo). What an agent reports it runs is held
// to the bounds a scheduler's word is (report.go): frameworks and tasks
// out of bounds are ignored with a warning and the rest applied, and an
// agent registering without an ID (nothing can have been launched on it)
// has all of its report ignored. An agent whose registration is too
// large for one message sends it in parts (AgentAPI.Register,
// register.go), bounded per registration, per principal and in time.
//
// Status updates are forwarded to the framework; a repeated UUID
// (the agent resending) is forwarded again but applied once; terminal
// updates recover the task's resources. Scheduler acknowledgements go to
// the agent; updates for frameworks that are gone are acknowledged by the
// master so agents stop resending them.
//
// # Maintenance and operator calls
//
// StartHTTP serves read-only state (see Handler) and three operator calls
// (operator.go): kill a task, drain an agent, undrain it. A drained agent's
// offers are withdrawn and it is offered nothing until undrained, also
// across re-registrations; every framework with live tasks there gets a
// SchedulerEvent.InverseOffer listing them and the operator's deadline
// (schedulers see it through driver.InverseOfferHandler). Nothing is
// killed by a drain. With an ACL the calls need a bearer token from
// Config.OperatorCredentials and kill_tasks / drain_agents; without one
// they answer loopback clients only. Drains are kept in etcd with standby
// masters: a new leader keeps the agent drained and, when it comes back,
// sends its frameworks the inverse offers again.
//
// # Tenants
//
// A framework belongs to the principal it subscribed as, recorded in its
// FrameworkInfo.Principal (Mesos's FrameworkInfo.principal): the master
// sets it from the authenticated caller and refuses a FrameworkInfo that
// names another principal. It travels with every launch, so agents keep
// it with their tasks and report it when they re-register, and the
// registry keeps it with standby masters: a master that rebuilds a
// framework from either gives it to that principal only (authz.go), and
// one rebuilt with no principal recorded goes to nobody while
// authentication is on (it ends with its failover timeout). An
// authenticated caller is never granted a framework ID the master does
// not know; for RecoveryTimeout after the master starts leading such a
// subscription is answered Unavailable (the framework's agents may not be
// back yet), then refused. A re-subscription is authorized for the role
// the framework holds. Calls, kills and sandbox reads a caller may not
// make on a framework are refused in words that do not depend on whether
// the framework or task exists, has ended, or whose it is.
//
// One principal cannot make the master hold without bound (limits.go):
// subscriptions are rate-limited per principal before they reach the
// loop (SubscribeRate, SubscribeBurst), a principal has at most
// MaxFrameworksPerPrincipal frameworks registered (those rebuilt from an
// agent's report count once their scheduler takes them back), a framework may ask
// for a failover timeout of at most MaxFailoverTimeout, and the master
// remembers only MaxCompletedFrameworks removed frameworks. /metrics
// counts and names no framework, role or principal: it is open to
// scrapers without credentials.
//
// # Standby masters
//
// With Config.HA.Etcd set, masters are elected on etcd: a standby answers
// every call with Unavailable and a LeaderHint (api.MasterConn follows
// it); the leader acts only while its lease surely lives, fences agent
// commands with its epoch and its etcd writes with its election key, and
// rebuilds its soft state from re-registrations (election.go, registry.go
// for exactly what lives in etcd and why, recovery.go). The role a master
// reports (Leader, /health, mezzo_master_leader, the state view) is the
// acting state itself, so it says standby from the instant it refuses
// calls. A late lease renewal pauses the leader; it steps down only when
// etcd says its lease is gone or nothing was answered for a TTL past its
// acting window. While the new leader waits for agents, reconciliation of
// tasks it does not know yet is held until their agent is back or the
// wait ends, never answered TASK_LOST while the agent may return. A
// TASK_LOST the master says on its own (a removed agent's tasks, a task it
// does not know) is final, across failovers too: the agent that turns up
// with such a task is told to kill it and its word is answered with that
// TASK_LOST again, so a framework that reconciles after every failover
// sees each task end exactly once. Crash stops a master as kill -9 would.
package master
