package sim

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// DefaultAgentResources is what one simulated agent offers unless configured
// otherwise: the EC2 nodes of the Mesos paper's experiments (4 CPU cores and
// 15 GB of memory).
const DefaultAgentResources = "cpus:4;mem:15360"

// DefaultAgentsPerRack is the rack size unless configured otherwise. Racks of
// the paper's era held 20 to 40 one-unit servers; 20 is the low end, chosen so
// that the paper's ~100-node experiments still span five racks and the three
// locality levels (node, rack, off-rack) stay distinguishable.
const DefaultAgentsPerRack = 20

// RackAttribute is the name of the agent attribute that carries its rack, as
// frameworks see it in offers (rack:NAME).
const RackAttribute = "rack"

// ClusterConfig describes a homogeneous cluster.
type ClusterConfig struct {
	// Agents is the number of agents; it must be positive.
	Agents int
	// AgentsPerRack fills racks in agent order; 0 means
	// DefaultAgentsPerRack. The last rack may be partly filled.
	AgentsPerRack int
	// Resources is what each agent offers; empty means
	// DefaultAgentResources.
	Resources mezzo.Resources
}

// Agent is one simulated machine.
type Agent struct {
	ID        mezzo.AgentID
	Hostname  string
	Rack      string
	Resources mezzo.Resources
	// Attributes holds rack:NAME. Shared: do not modify.
	Attributes []mezzo.Attribute
}

// Cluster is a fixed set of agents in racks. Names are numbered from 1 and
// zero-padded to a common width ("agent-0001", "rack-01"), so sorting them as
// strings gives their numeric order. A Cluster is immutable once built; which
// agents are up is the driver's business.
type Cluster struct {
	agents []Agent
	index  map[mezzo.AgentID]int
	racks  []string
	rackOf []int   // agent index → rack index
	member [][]int // rack index → agent indexes
	total  mezzo.Resources
}

// NewCluster builds the cluster cfg describes.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if cfg.Agents <= 0 {
		return nil, fmt.Errorf("cluster: %d agents; need at least one", cfg.Agents)
	}
	perRack := cfg.AgentsPerRack
	if perRack == 0 {
		perRack = DefaultAgentsPerRack
	}
	if perRack < 0 {
		return nil, fmt.Errorf("cluster: %d agents per rack; need at least one", perRack)
	}
	res := cfg.Resources
	if res.IsEmpty() {
		res = mezzo.MustParseResources(DefaultAgentResources)
	}
	nRacks := (cfg.Agents + perRack - 1) / perRack
	c := &Cluster{
		agents: make([]Agent, cfg.Agents),
		index:  make(map[mezzo.AgentID]int, cfg.Agents),
		racks:  make([]string, nRacks),
		rackOf: make([]int, cfg.Agents),
		member: make([][]int, nRacks),
	}
	rackWidth := max(2, len(strconv.Itoa(nRacks)))
	for r := range c.racks {
		c.racks[r] = fmt.Sprintf("rack-%0*d", rackWidth, r+1)
	}
	agentWidth := max(4, len(strconv.Itoa(cfg.Agents)))
	for i := range c.agents {
		r := i / perRack
		id := mezzo.AgentID(fmt.Sprintf("agent-%0*d", agentWidth, i+1))
		c.agents[i] = Agent{
			ID:         id,
			Hostname:   string(id),
			Rack:       c.racks[r],
			Resources:  res,
			Attributes: []mezzo.Attribute{{Name: RackAttribute, Value: c.racks[r]}},
		}
		c.index[id] = i
		c.rackOf[i] = r
		c.member[r] = append(c.member[r], i)
		c.total = c.total.Add(res)
	}
	return c, nil
}

// Size is the number of agents.
func (c *Cluster) Size() int { return len(c.agents) }

// Agents returns every agent in ID order. The slice is a copy.
func (c *Cluster) Agents() []Agent { return slices.Clone(c.agents) }

// Agent looks an agent up by ID.
func (c *Cluster) Agent(id mezzo.AgentID) (Agent, bool) {
	i, ok := c.index[id]
	if !ok {
		return Agent{}, false
	}
	return c.agents[i], true
}

// Racks returns the rack names in order. The slice is a copy.
func (c *Cluster) Racks() []string { return slices.Clone(c.racks) }

// RackOf is the rack of an agent, "" for an unknown agent.
func (c *Cluster) RackOf(id mezzo.AgentID) string {
	i, ok := c.index[id]
	if !ok {
		return ""
	}
	return c.racks[c.rackOf[i]]
}

// RackAgents returns the agents in a rack, in ID order; nil for an unknown
// rack.
func (c *Cluster) RackAgents(rack string) []mezzo.AgentID {
	r, ok := slices.BinarySearch(c.racks, rack)
	if !ok {
		return nil
	}
	out := make([]mezzo.AgentID, len(c.member[r]))
	for k, i := range c.member[r] {
		out[k] = c.agents[i].ID
	}
	return out
}

// Total is the sum of every agent's resources.
func (c *Cluster) Total() mezzo.Resources { return c.total }

// Failure is one outage of one agent, as scenario data: the agent goes down
// At after the start of the run (Epoch) and comes back Back after the start;
// Back of zero means it never does. The driver schedules them; the cluster
// only checks them.
type Failure struct {
	Agent mezzo.AgentID
	At    time.Duration
	Back  time.Duration
}

// CheckFailures reports the first problem in a failure list: an unknown
// agent, a negative time, a return that is not after the failure, or two
// outages of one agent that overlap.
func (c *Cluster) CheckFailures(fs []Failure) error {
	byAgent := make(map[mezzo.AgentID][]int)
	for i, f := range fs {
		if _, ok := c.index[f.Agent]; !ok {
			return fmt.Errorf("failure %d: unknown agent %q", i+1, f.Agent)
		}
		if f.At < 0 {
			return fmt.Errorf("failure %d (agent %s): fails at %v, before the start", i+1, f.Agent, f.At)
		}
		if f.Back != 0 && f.Back <= f.At {
			return fmt.Errorf("failure %d (agent %s): back at %v, not after it fails at %v", i+1, f.Agent, f.Back, f.At)
		}
		byAgent[f.Agent] = append(byAgent[f.Agent], i)
	}
	// Visit agents in cluster order so the error reported does not depend on
	// map iteration order.
	for _, a := range c.agents {
		idx := byAgent[a.ID]
		slices.SortStableFunc(idx, func(x, y int) int { return cmp.Compare(fs[x].At, fs[y].At) })
		for k := 1; k < len(idx); k++ {
			prev, cur := fs[idx[k-1]], fs[idx[k]]
			if prev.Back == 0 || cur.At < prev.Back {
				return fmt.Errorf("failure %d (agent %s at %v) overlaps failure %d (down %v to %s)",
					idx[k]+1, a.ID, cur.At, idx[k-1]+1, prev.At, backString(prev.Back))
			}
		}
	}
	return nil
}

func backString(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return d.String()
}

// ParseFailures reads a failure list, one outage per line:
//
//	# agent      fails at   back at (or "never")
//	agent-0003   60s        180s
//	agent-0007   2m         never
//
// Times are Go durations since the start of the run. Blank lines and text
// after '#' are ignored. name is used in errors ("name:line: problem").
func ParseFailures(r io.Reader, name string) ([]Failure, error) {
	var out []Failure
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want \"AGENT AT BACK\", got %d fields", name, line, len(fields))
		}
		at, err := time.ParseDuration(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: failure time %q is not a duration such as 90s", name, line, fields[1])
		}
		var back time.Duration
		if fields[2] != "never" {
			back, err = time.ParseDuration(fields[2])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: return time %q is neither a duration such as 90s nor \"never\"", name, line, fields[2])
			}
			if back == 0 {
				return nil, fmt.Errorf("%s:%d: return time 0 is before the failure; write \"never\" for no return", name, line)
			}
		}
		out = append(out, Failure{Agent: mezzo.AgentID(fields[0]), At: at, Back: back})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
