package master

import (
	"math"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// What one principal may make the master hold. Every registered framework
// costs the master memory (its record, the allocator's, up to
// completedKept finished tasks) and every subscription a turn of the
// loop, so one tenant's flood must neither grow the master without bound
// nor slow the others' calls: subscriptions are rate-limited per
// principal before they reach the loop, a principal has at most
// Config.MaxFrameworksPerPrincipal frameworks at once, a framework keeps
// its tasks at most Config.MaxFailoverTimeout after its scheduler goes,
// and only the last Config.MaxCompletedFrameworks removed frameworks are
// remembered.

// limitSubscribe refuses a subscription over the principal's rate, before
// anything else is done for it.
func (m *Master) limitSubscribe(principal string) error {
	if m.subscribes == nil || m.subscribes.Allow(principal) {
		return nil
	}
	m.obs.refused(limitRate)
	return status.Errorf(codes.ResourceExhausted, "subscription rate limit: principal %s is over %g subscriptions/s (burst %d); retry later",
		quotePrincipal(principal), m.cfg.SubscribeRate, m.cfg.SubscribeBurst)
}

// validFramework checks what a scheduler asks for in its FrameworkInfo
// and makes the caller its principal: a scheduler may leave the principal
// empty or name the one it authenticated as, never another (Mesos refuses
// a FrameworkInfo.principal that is not the authenticated one).
func (m *Master) validFramework(info *mezzo.FrameworkInfo, principal string) error {
	if info.Principal != "" && info.Principal != principal {
		m.log.Warn("not authorized", "principal", principal, "action", "subscribe", "object", string(info.ID), "named_principal", info.Principal)
		return status.Errorf(codes.PermissionDenied, "not authorized: the framework names principal %q but the caller is authenticated as %s; a framework's principal is the identity it subscribes with (leave it empty)",
			info.Principal, quotePrincipal(principal))
	}
	info.Principal = principal
	switch {
	case info.FailoverTimeout < 0:
		return status.Errorf(codes.InvalidArgument, "failover timeout %v is negative", info.FailoverTimeout)
	case info.FailoverTimeout > m.cfg.MaxFailoverTimeout:
		return status.Errorf(codes.InvalidArgument, "failover timeout %v is above the longest this master keeps a framework's tasks, %v (mezzo master --max-failover-timeout)",
			info.FailoverTimeout, m.cfg.MaxFailoverTimeout)
	}
	// The agents keep the framework as the master sends it, with its
	// principal and ID, and report it back, where it meets the same
	// bounds (vetReport): check it in that form, with the longest ID this
	// master hands out for a new one, so no framework accepted here is
	// dropped there.
	p := api.FrameworkToProto(*info)
	if p.FrameworkId == "" {
		p.FrameworkId = m.cfg.MasterID + "-F" + strconv.FormatUint(math.MaxUint64, 10)
	}
	if err := api.ValidateFrameworkInfo(p); err != nil {
		return status.Errorf(codes.InvalidArgument, "with its principal and ID: %v", err)
	}
	return nil
}

// underFrameworkCap refuses a new framework to a principal that already
// has MaxFrameworksPerPrincipal counted: those it registered, also while
// disconnected and after a failover (rebuilt from the registry), but not
// those rebuilt from an agent's report until its scheduler takes them
// back (placeholder).
func (m *Master) underFrameworkCap(principal string) error {
	limit := m.cfg.MaxFrameworksPerPrincipal
	if limit < 0 {
		return nil
	}
	n := m.perPrincipal[principal]
	if n < limit {
		return nil
	}
	m.obs.refused(limitFrameworks)
	m.log.Warn("framework refused: principal at its cap", "principal", principal, "frameworks", n, "limit", limit)
	return status.Errorf(codes.ResourceExhausted, "principal %s already has %d frameworks registered, the most this master allows one principal (mezzo master --max-frameworks-per-principal %d); tear one down or let a disconnected one's failover timeout end first",
		quotePrincipal(principal), n, limit)
}

// countFramework counts fw towards its principal's cap, once; the loop
// keeps the counts as frameworks come and go rather than counting on
// every subscription.
func (m *Master) countFramework(fw *framework) {
	if !fw.counted {
		fw.counted = true
		m.perPrincipal[fw.info.Principal]++
	}
}

// uncountFramework undoes countFramework for a framework removed.
func (m *Master) uncountFramework(fw *framework) {
	if !fw.counted {
		return
	}
	fw.counted = false
	p := fw.info.Principal
	if m.perPrincipal[p]--; m.perPrincipal[p] <= 0 {
		delete(m.perPrincipal, p)
	}
}

// rememberRemoved keeps a removed framework for its stats and so that its
// ID cannot come back, forgetting the oldest past MaxCompletedFrameworks.
// A forgotten framework's ID is simply unknown: a subscription naming it
// is refused like any unknown ID.
func (m *Master) rememberRemoved(fw *framework) {
	keep := max(m.cfg.MaxCompletedFrameworks, 0)
	m.removed[fw.id] = fw
	m.removedOrder = append(m.removedOrder, fw.id)
	for len(m.removedOrder) > keep {
		delete(m.removed, m.removedOrder[0])
		m.removedOrder = m.removedOrder[1:]
	}
	if len(m.removedOrder) == 0 {
		m.removedOrder = nil // let the backing array go
	}
}
