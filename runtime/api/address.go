package api

import (
	"net"

	"google.golang.org/grpc/resolver"
)

// masterAddress is the resolver address of the master at addr. Its host
// is the name the master's TLS certificate is checked against: a
// MasterConn's target ("scheme:///masters") names no host, and one that
// follows the leader from master to master must verify each under its own
// name, not under the first one dialled. The host comes from the
// configuration or from a LeaderHint of a master already verified, so it
// is as trusted as an address given on the command line.
func masterAddress(addr string) resolver.Address {
	a := resolver.Address{Addr: addr}
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		a.ServerName = host
	}
	return a
}
