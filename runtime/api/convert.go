package api

import (
	"fmt"
	"math"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Conversions between the wire messages and the root mezzo types. *ToProto
// never fails; *FromProto checks what the wire cannot guarantee (a known
// task state, valid resources) and names the offending field. A nil message
// converts to the zero value.

// ResourcesToProto converts a bundle; scalars keep their exact thousandths.
func ResourcesToProto(r mezzo.Resources) *Resources {
	out := &Resources{}
	for _, s := range r.Scalars() {
		out.Scalars = append(out.Scalars, &Scalar{Name: s.Name, Milli: int64(math.Round(s.Value() * 1000))})
	}
	for _, p := range r.PortRanges() {
		out.Ports = append(out.Ports, &Range{Begin: p.Begin, End: p.End})
	}
	return out
}

// ResourcesFromProto converts a bundle. Repeated scalar names are added, as
// in the Mesos text form.
func ResourcesFromProto(p *Resources) (mezzo.Resources, error) {
	if p == nil {
		return mezzo.Resources{}, nil
	}
	milli := make(map[string]int64, len(p.Scalars))
	for i, s := range p.Scalars {
		if s.GetMilli() < 0 {
			return mezzo.Resources{}, fmt.Errorf("resources: scalar %d %q is negative (%d thousandths)", i, s.GetName(), s.GetMilli())
		}
		milli[s.GetName()] += s.GetMilli()
	}
	scalars := make(map[string]float64, len(milli))
	for n, m := range milli {
		scalars[n] = float64(m) / 1000
	}
	ports := make([]mezzo.Range, 0, len(p.Ports))
	for _, r := range p.Ports {
		ports = append(ports, mezzo.Range{Begin: r.GetBegin(), End: r.GetEnd()})
	}
	res, err := mezzo.NewResources(scalars, ports...)
	if err != nil {
		return mezzo.Resources{}, fmt.Errorf("resources: %w", err)
	}
	return res, nil
}

// AttributesToProto converts agent attributes.
func AttributesToProto(as []mezzo.Attribute) []*Attribute {
	if len(as) == 0 {
		return nil
	}
	out := make([]*Attribute, len(as))
	for i, a := range as {
		out[i] = &Attribute{Name: a.Name, Value: a.Value}
	}
	return out
}

// AttributesFromProto converts agent attributes.
func AttributesFromProto(as []*Attribute) []mezzo.Attribute {
	if len(as) == 0 {
		return nil
	}
	out := make([]mezzo.Attribute, len(as))
	for i, a := range as {
		out[i] = mezzo.Attribute{Name: a.GetName(), Value: a.GetValue()}
	}
	return out
}

// CommandToProto converts a command; nil stays nil.
func CommandToProto(c *mezzo.CommandInfo) *CommandInfo {
	if c == nil {
		return nil
	}
	return &CommandInfo{Value: c.Value, Args: c.Args, Shell: c.Shell, Env: c.Env, User: c.User}
}

// CommandFromProto converts a command; nil stays nil.
func CommandFromProto(p *CommandInfo) *mezzo.CommandInfo {
	if p == nil {
		return nil
	}
	return &mezzo.CommandInfo{Value: p.Value, Args: p.Args, Shell: p.Shell, Env: p.Env, User: p.User}
}

// ExecutorToProto converts an executor description; nil stays nil.
func ExecutorToProto(e *mezzo.ExecutorInfo) *ExecutorInfo {
	if e == nil {
		return nil
	}
	return &ExecutorInfo{
		ExecutorId: string(e.ID),
		Name:       e.Name,
		Kind:       e.Kind,
		Command:    CommandToProto(e.Command),
		Resources:  ResourcesToProto(e.Resources),
	}
}

// ExecutorFromProto converts an executor description; nil stays nil.
func ExecutorFromProto(p *ExecutorInfo) (*mezzo.ExecutorInfo, error) {
	if p == nil {
		return nil, nil
	}
	res, err := ResourcesFromProto(p.Resources)
	if err != nil {
		return nil, fmt.Errorf("executor %q: %w", p.ExecutorId, err)
	}
	return &mezzo.ExecutorInfo{
		ID:        mezzo.ExecutorID(p.ExecutorId),
		Name:      p.Name,
		Kind:      p.Kind,
		Command:   CommandFromProto(p.Command),
		Resources: res,
	}, nil
}

// TaskToProto converts a task description.
func TaskToProto(t mezzo.TaskInfo) *TaskInfo {
	return &TaskInfo{
		TaskId:        string(t.ID),
		Name:          t.Name,
		AgentId:       string(t.AgentID),
		Resources:     ResourcesToProto(t.Resources),
		Command:       CommandToProto(t.Command),
		Executor:      ExecutorToProto(t.Executor),
		Data:          t.Data,
		DurationNanos: int64(t.Duration),
		Input:         t.Input,
		Labels:        t.Labels,
	}
}

// TaskFromProto converts a task description.
func TaskFromProto(p *TaskInfo) (mezzo.TaskInfo, error) {
	if p == nil {
		return mezzo.TaskInfo{}, nil
	}
	res, err := ResourcesFromProto(p.Resources)
	if err != nil {
		return mezzo.TaskInfo{}, fmt.Errorf("task %q: %w", p.TaskId, err)
	}
	ex, err := ExecutorFromProto(p.Executor)
	if err != nil {
		return mezzo.TaskInfo{}, fmt.Errorf("task %q: %w", p.TaskId, err)
	}
	if p.DurationNanos < 0 {
		return mezzo.TaskInfo{}, fmt.Errorf("task %q: negative duration %v", p.TaskId, time.Duration(p.DurationNanos))
	}
	return mezzo.TaskInfo{
		ID:        mezzo.TaskID(p.TaskId),
		Name:      p.Name,
		AgentID:   mezzo.AgentID(p.AgentId),
		Resources: res,
		Command:   CommandFromProto(p.Command),
		Executor:  ex,
		Data:      p.Data,
		Duration:  time.Duration(p.DurationNanos),
		Input:     p.Input,
		Labels:    p.Labels,
	}, nil
}

// StateToProto converts a task state; the numbers are the same.
func StateToProto(s mezzo.TaskState) TaskState { return TaskState(s) }

// StateFromProto converts a task state, rejecting numbers mezzo does not
// know (a newer peer).
func StateFromProto(s TaskState) (mezzo.TaskState, error) {
	if _, ok := TaskState_name[int32(s)]; !ok {
		return 0, fmt.Errorf("unknown task state %d", int32(s))
	}
	return mezzo.TaskState(s), nil
}

// StatusToProto converts a status update.
func StatusToProto(s mezzo.TaskStatus) *TaskStatus {
	return &TaskStatus{
		TaskId:        string(s.TaskID),
		AgentId:       string(s.AgentID),
		ExecutorId:    string(s.ExecutorID),
		State:         StateToProto(s.State),
		Reason:        string(s.Reason),
		Message:       s.Message,
		Data:          s.Data,
		TimeUnixNanos: timeToNanos(s.Time),
		Uuid:          s.UUID,
	}
}

// StatusFromProto converts a status update.
func StatusFromProto(p *TaskStatus) (mezzo.TaskStatus, error) {
	if p == nil {
		return mezzo.TaskStatus{}, nil
	}
	st, err := StateFromProto(p.State)
	if err != nil {
		return mezzo.TaskStatus{}, fmt.Errorf("status of task %q: %w", p.TaskId, err)
	}
	return mezzo.TaskStatus{
		TaskID:     mezzo.TaskID(p.TaskId),
		AgentID:    mezzo.AgentID(p.AgentId),
		ExecutorID: mezzo.ExecutorID(p.ExecutorId),
		State:      st,
		Reason:     mezzo.Reason(p.Reason),
		Message:    p.Message,
		Data:       p.Data,
		Time:       nanosToTime(p.TimeUnixNanos),
		UUID:       p.Uuid,
	}, nil
}

// OfferToProto converts an offer.
func OfferToProto(o mezzo.Offer) *Offer {
	return &Offer{
		OfferId:     string(o.ID),
		FrameworkId: string(o.FrameworkID),
		AgentId:     string(o.AgentID),
		Hostname:    o.Hostname,
		Attributes:  AttributesToProto(o.Attributes),
		Resources:   ResourcesToProto(o.Resources),
	}
}

// OfferFromProto converts an offer.
func OfferFromProto(p *Offer) (mezzo.Offer, error) {
	if p == nil {
		return mezzo.Offer{}, nil
	}
	res, err := ResourcesFromProto(p.Resources)
	if err != nil {
		return mezzo.Offer{}, fmt.Errorf("offer %q: %w", p.OfferId, err)
	}
	return mezzo.Offer{
		ID:          mezzo.OfferID(p.OfferId),
		FrameworkID: mezzo.FrameworkID(p.FrameworkId),
		AgentID:     mezzo.AgentID(p.AgentId),
		Hostname:    p.Hostname,
		Attributes:  AttributesFromProto(p.Attributes),
		Resources:   res,
	}, nil
}

// FiltersToProto converts decline filters, keeping the sign convention
// (0 default, negative none).
func FiltersToProto(f mezzo.Filters) *Filters { return &Filters{RefuseNanos: int64(f.Refuse)} }

// FiltersFromProto converts decline filters; nil means the defaults.
func FiltersFromProto(p *Filters) mezzo.Filters {
	return mezzo.Filters{Refuse: time.Duration(p.GetRefuseNanos())}
}

// FrameworkToProto converts a framework description.
func FrameworkToProto(f mezzo.FrameworkInfo) *FrameworkInfo {
	var agents []string
	for _, a := range f.Constraints.Agents {
		agents = append(agents, string(a))
	}
	return &FrameworkInfo{
		FrameworkId:          string(f.ID),
		Name:                 f.Name,
		Role:                 f.Role,
		User:                 f.User,
		FailoverTimeoutNanos: int64(f.FailoverTimeout),
		Principal:            f.Principal,
		Constraints: &OfferConstraints{
			MinResources: ResourcesToProto(f.Constraints.MinResources),
			Agents:       agents,
		},
	}
}

// FrameworkFromProto converts a framework description.
func FrameworkFromProto(p *FrameworkInfo) (mezzo.FrameworkInfo, error) {
	if p == nil {
		return mezzo.FrameworkInfo{}, nil
	}
	min, err := ResourcesFromProto(p.GetConstraints().GetMinResources())
	if err != nil {
		return mezzo.FrameworkInfo{}, fmt.Errorf("framework %q: min_resources: %w", p.FrameworkId, err)
	}
	var agents []mezzo.AgentID
	for _, a := range p.GetConstraints().GetAgents() {
		agents = append(agents, mezzo.AgentID(a))
	}
	return mezzo.FrameworkInfo{
		ID:              mezzo.FrameworkID(p.FrameworkId),
		Name:            p.Name,
		Role:            p.Role,
		User:            p.User,
		FailoverTimeout: time.Duration(p.FailoverTimeoutNanos),
		Constraints:     mezzo.OfferConstraints{MinResources: min, Agents: agents},
		Principal:       p.Principal,
	}, nil
}

func timeToNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosToTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
