// Package mastertest has test doubles for code that talks to a mezzo
// master: a FakeAgent that registers over the real AgentAPI and lets a test
// play the agent's part (answer pings, report task states, see launches,
// kills and acknowledgements), and a Scheduler that records every event a
// raw SchedulerAPI subscription delivers.
//
// They speak real gRPC, so master and SDK tests exercise the wire, not a
// mock of it.
package mastertest
