// Package failover is the harness of the failover experiment (the Mesos
// paper's master failover figure): two masters elected on a real, embedded
// etcd, N emulated agents in this process (each a real gRPC client of the
// AgentAPI, with its tasks), frameworks driven by the real scheduler SDK
// filling the cluster with long tasks; then the leader is crashed (no
// resignation: its lease must expire, as after kill -9) and the time until
// the standby has every agent and framework back and allocates again is
// measured.
//
// Usage:
//
//	rows, err := failover.Run(ctx, failover.Config{}, []int{500, 1000}, nil)
//	err = failover.WriteCSV(w, rows)
//	err = failover.WriteJSON(w, rows) // {"experiment":"failover","rows":[...]}
//
// Each Row splits the recovery: Detect (crash → the standby is elected,
// dominated by the lease TTL), then Reregister (election → every agent
// back and allocation resumed), then framework re-subscription.
package failover
