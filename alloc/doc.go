// Package alloc is mezzo's allocator: the state machine that decides which
// framework is offered which agent's resources. The simulator and the real
// master drive the same Allocator, so a policy measured in simulation is the
// policy that runs in production.
//
// The Allocator tracks agents, frameworks in roles (with weights and quota),
// outstanding offers, resources in use, decline filters, and suppression. It
// follows Mesos's semantics: offered resources count as allocated until they
// are used or declined; a decline (or the unused part of an accept) filters
// that agent from that framework for a refuse duration (default 5 s) while
// the agent's free resources stay within what was refused; Revive clears
// filters and ends Suppress; agents whose free resources hold none of the
// minimum allocatable bundles (default 0.01 cpus or 32 MB) are not offered.
//
// It is a pure state machine: no goroutines, no clock (time comes in as
// now), no I/O, no global randomness, and no decision depends on map
// iteration order. The same calls give the same offers, byte for byte.
//
// Usage:
//
//	pol, err := alloc.DefaultRegistry().New("drf", alloc.PolicyOptions{})
//	a, err := alloc.New(alloc.Config{Policy: pol})
//	a.AddAgent("agent-1", alloc.AgentInfo{Resources: mezzo.MustParseResources("cpus:4;mem:8192")}, nil)
//	a.AddFramework("fw-1", mezzo.FrameworkInfo{Name: "spark", Role: "analytics"})
//	offers := a.Allocate(now)             // one cycle
//	a.Accept(now, "fw-1", []mezzo.OfferID{offers[0].ID}, used, mezzo.Filters{})
//	a.Recover("fw-1", "agent-1", used)    // the task ended
//	a.AllocateAgents(now, []mezzo.AgentID{"agent-1"}) // incremental cycle
//
// # Policies
//
// A [Policy] ranks roles, then frameworks within a role; the allocator
// offers each agent to the first eligible framework in that order and moves
// the receiver to its new place at once. Built in, by registry name: "drf"
// (weighted Dominant Resource Fairness), "fair-cpu" (max-min on CPUs),
// "priority" (strict priority by role weight, DRF within), "random"
// (weighted random, seeded), "static" (static partitioning baseline),
// "asset" (asset fairness: the sum of shares instead of the largest) and
// "tetris" (packing by the fit of a framework's demand to the agent's free
// resources, with a fairness knob).
//
// To add a policy, implement the three methods of [Policy] and register a
// constructor in a [Registry]; the conformance suite in alloc/alloctest runs
// on every registered policy. A policy that must see the agent being offered
// (packing) also implements [AgentAwarePolicy]. README.md beside this file
// walks through writing one.
//
// # Quota
//
// A role's quota guarantee is served first: agents go to roles still below
// their guarantee before anyone else, and offers to other roles keep back
// enough free resources to meet the guarantees still unmet. A quota limit
// is never exceeded: offers to the role are trimmed to fit.
package alloc
