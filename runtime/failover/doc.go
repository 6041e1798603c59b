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
// Each Row splits the recovery, every time from the crash: the old
// leader's lease gone on etcd (the TTL, plus up to the 500 ms of etcd's
// expiry check), the standby elected, every agent back, every framework
// back, and the first allocation.
//
// etcd runs wherever Config.Etcd says: in this process for tests
// (InProcessEtcd), or as a child process (EtcdProcess, which `mezzo
// experiment failover` uses by default) so that its raft, lease and
// gRPC work is not queued behind thousands of emulated agents in one Go
// scheduler.
package failover
