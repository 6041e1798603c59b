// Package attack is mezzo's hostile-tenant and broken-machine suite
// (`make attack`). Each probe starts a real cluster on loopback (a mezzo
// master with mutual TLS, an ACL and bearer-token credentials, and real
// agents running real executors, all as OS processes of the binary under
// test) and attacks it the way a second tenant with a valid account, or a
// failing machine, would: tenant-b, allowed only its own role, goes after
// tenant-a's frameworks, tasks, sandboxes and tokens; a torn file, a full
// disk, a FIFO or an oversized message goes after an agent. A probe passes
// when the attack is refused, or when the cluster survives it with nothing
// already accepted lost.
//
// The cluster (cluster_test.go) has these principals, each with a client
// certificate from `mezzo certs init` and a bearer token:
//
//	tenant-a  registers frameworks in role "a", runs tasks as nobody
//	tenant-b  registers frameworks in role "b", runs tasks as nobody
//	admin     views state, reads sandboxes, kills tasks, drains agents
//	agent     registers agents (the certificate all agents share)
//
// Probes that take more than a few seconds call slow(t): `make test` skips
// them, `make attack` (MEZZO_ATTACK=all) and .ci/run run every probe.
// Probes that need root (switching users, cgroups) skip without it.
package attack
