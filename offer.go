package mezzo

import "time"

// DefaultRefuse is how long a declined agent stays filtered for the framework
// that declined it when the decline names no duration (Mesos: 5 seconds).
const DefaultRefuse = 5 * time.Second

// Attribute is a named property of an agent, such as rack:r1.
type Attribute struct {
	Name, Value string
}

// Offer is a bundle of resources on one agent offered to one framework. While
// outstanding, offered resources count as allocated to that framework; they
// return to the pool when declined, or when the part a launch does not use is
// recovered.
type Offer struct {
	ID          OfferID
	FrameworkID FrameworkID
	AgentID     AgentID
	Hostname    string
	Attributes  []Attribute
	Resources   Resources
}

// Attribute returns the value of the named agent attribute, "" when absent.
func (o Offer) Attribute(name string) string {
	for _, a := range o.Attributes {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

// Filters go with a decline (or with the unused part of an accepted offer):
// the agent is not offered again to this framework for RefuseSeconds, unless
// the framework revives. Zero means [DefaultRefuse]; a negative value means no
// filter at all.
type Filters struct {
	Refuse time.Duration
}

// RefuseDuration resolves the default.
func (f Filters) RefuseDuration() time.Duration {
	if f.Refuse == 0 {
		return DefaultRefuse
	}
	if f.Refuse < 0 {
		return 0
	}
	return f.Refuse
}

// OfferConstraints narrow what a framework is offered: no offer smaller than
// MinResources (when set) and none outside Agents (when non-empty).
type OfferConstraints struct {
	MinResources Resources
	Agents       []AgentID
}

// FrameworkInfo describes a framework when it registers.
type FrameworkInfo struct {
	// ID is empty on first registration; a framework that fails over
	// re-registers with the ID it was given.
	ID   FrameworkID
	Name string
	// Role is the role whose share and weight the framework draws on.
	// Empty means "*", the default role.
	Role string
	// User is the OS user tasks run as when they name none.
	User string
	// FailoverTimeout is how long the master keeps a disconnected
	// framework's tasks before killing them.
	FailoverTimeout time.Duration
	// Constraints narrow the offers the framework receives.
	Constraints OfferConstraints
	// Principal owns the framework: the identity it registered with. A
	// master sets it from the authenticated caller (a scheduler may leave
	// it empty, or name only itself), and it travels with the framework to
	// agents, so a master that rebuilds the framework from them knows whose
	// it is. Empty without authentication.
	Principal string
}

// DefaultRole is the role of frameworks that name none.
const DefaultRole = "*"

// RoleOrDefault returns the framework's role, or [DefaultRole].
func (f FrameworkInfo) RoleOrDefault() string {
	if f.Role == "" {
		return DefaultRole
	}
	return f.Role
}
