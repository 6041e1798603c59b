package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// BlockSize is the DFS block size: 64 MB, the HDFS default of the paper's
// time. Each map task of a Hadoop job reads one block.
const BlockSize int64 = 64 << 20

// Replication is how many agents hold each block (the HDFS default).
const Replication = 3

// Level is how close a reader is to the data it reads.
type Level int8

// Locality levels, best first.
const (
	NodeLocal Level = iota // a replica is on the reader's agent
	RackLocal              // a replica is in the reader's rack
	Remote                 // every replica is in another rack
)

func (l Level) String() string {
	switch l {
	case NodeLocal:
		return "node-local"
	case RackLocal:
		return "rack-local"
	case Remote:
		return "remote"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ReadCost is how much longer a task runs when its input is not on its agent:
// a task's base duration is multiplied by the factor of its locality level.
//
// The defaults come from the Mesos paper's locality experiment (NSDI 2011,
// Section 6.3, 16 Hadoop instances on EC2): static partitioning reached 18%
// node-local map tasks and a mean job time of about 570 s; Mesos with
// 5-second delay scheduling reached 95% and about 340 s, a 1.7× speedup. If
// job time scales with the mean task duration, 0.18 + 0.82·f = 1.68 ×
// (0.95 + 0.05·f) gives f ≈ 1.9 for a non-local read. EC2 exposed no rack
// topology, so those reads crossed the data-centre network: that is the
// Remote factor. The delay scheduling paper (Zaharia et al., EuroSys 2010)
// reports that non-local map tasks run noticeably slower, and rack-local
// reads far less so because only the cross-rack links are oversubscribed; it
// gives no single figure, so RackLocal = 1.2 is a judgment, not a
// measurement. Both are configurable.
type ReadCost struct {
	NodeLocal, RackLocal, Remote float64
}

// DefaultReadCost returns the factors justified on [ReadCost].
func DefaultReadCost() ReadCost {
	return ReadCost{NodeLocal: 1, RackLocal: 1.2, Remote: 1.9}
}

// Factor is the duration multiplier for a level.
func (c ReadCost) Factor(l Level) float64 {
	switch l {
	case NodeLocal:
		return c.NodeLocal
	case RackLocal:
		return c.RackLocal
	}
	return c.Remote
}

// Check reports a factor that is not a positive finite number.
func (c ReadCost) Check() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"node-local", c.NodeLocal}, {"rack-local", c.RackLocal}, {"remote", c.Remote}} {
		if !(f.v > 0) || math.IsInf(f.v, 0) {
			return fmt.Errorf("read cost: %s factor %v is not a positive number", f.name, f.v)
		}
	}
	return nil
}

// DFS models a distributed file system over a Cluster: files are split into
// BlockSize blocks, each block is stored on Replication distinct agents
// chosen uniformly at random (or on every agent of a smaller cluster). HDFS's
// rack-aware placement is not modelled.
//
// Block IDs are "NAME/NNNN", the block's index within file NAME zero-padded
// to four digits ("logs/0007").
type DFS struct {
	c     *Cluster
	rng   *rand.Rand
	cost  ReadCost
	files map[string]*file
	down  []bool // by agent index
}

// file keeps its blocks' replicas; a block is found from its ID by parsing
// the index after the last '/', which costs 12 bytes a block instead of a
// map entry per block (a day of the Facebook trace reads millions).
type file struct {
	ids      []string
	replicas [][Replication]int32 // agent indexes; -1 when unused
}

// NewDFS returns an empty file system over c whose placement draws from rng.
// Placement is deterministic for a given rng state and sequence of AddFile
// calls.
func NewDFS(c *Cluster, rng *rand.Rand) (*DFS, error) {
	if c == nil || c.Size() == 0 {
		return nil, fmt.Errorf("dfs: no cluster to store blocks on")
	}
	if rng == nil {
		return nil, fmt.Errorf("dfs: nil random source; pass a seeded *rand.Rand")
	}
	return &DFS{
		c:     c,
		rng:   rng,
		cost:  DefaultReadCost(),
		files: make(map[string]*file),
		down:  make([]bool, c.Size()),
	}, nil
}

// SetReadCost replaces the read cost factors.
func (d *DFS) SetReadCost(c ReadCost) error {
	if err := c.Check(); err != nil {
		return err
	}
	d.cost = c
	return nil
}

// ReadCost returns the read cost factors in use.
func (d *DFS) ReadCost() ReadCost { return d.cost }

// AddFile creates a file of the given size and places its blocks; it returns
// the block IDs in order. An empty file has no blocks.
func (d *DFS) AddFile(name string, bytes int64) ([]string, error) {
	if name == "" {
		return nil, fmt.Errorf("dfs: file with an empty name")
	}
	if _, ok := d.files[name]; ok {
		return nil, fmt.Errorf("dfs: file %q already exists", name)
	}
	if bytes < 0 {
		return nil, fmt.Errorf("dfs: file %q: size %d is negative", name, bytes)
	}
	n := int((bytes + BlockSize - 1) / BlockSize)
	f := &file{ids: make([]string, n), replicas: make([][Replication]int32, n)}
	for i := range n {
		f.ids[i] = fmt.Sprintf("%s/%04d", name, i)
		f.replicas[i] = d.place()
	}
	d.files[name] = f
	return slices.Clone(f.ids), nil
}

// block finds a block's replicas from its ID. Only the canonical form
// AddFile returns is accepted ("f/0007", not "f/7"), so each block has one
// name. Names cannot collide: file "a/0001" has blocks "a/0001/NNNN", while
// block "a/0001" belongs to file "a".
func (d *DFS) block(id string) ([Replication]int32, bool) {
	slash := strings.LastIndexByte(id, '/')
	if slash < 0 {
		return [Replication]int32{}, false
	}
	digits := id[slash+1:]
	if len(digits) < 4 || (len(digits) > 4 && digits[0] == '0') {
		return [Replication]int32{}, false
	}
	i := 0
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' || i > math.MaxInt32 {
			return [Replication]int32{}, false
		}
		i = i*10 + int(c-'0')
	}
	f, ok := d.files[id[:slash]]
	if !ok || i >= len(f.replicas) {
		return [Replication]int32{}, false
	}
	return f.replicas[i], true
}

// place draws Replication distinct agents uniformly: the k-th draw is from
// the n-k agents not yet chosen.
func (d *DFS) place() [Replication]int32 {
	out := [Replication]int32{-1, -1, -1}
	n := d.c.Size()
	k := min(Replication, n)
	for j := range k {
		out[j] = skipChosen(int32(d.rng.IntN(n-j)), out[:j])
	}
	return out
}

// skipChosen maps r in [0, n-len(chosen)) to the r-th agent index not in
// chosen.
func skipChosen(r int32, chosen []int32) int32 {
	var sorted [Replication]int32
	s := sorted[:len(chosen)]
	copy(s, chosen)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	for _, c := range s {
		if c <= r {
			r++
		}
	}
	return r
}

// Blocks returns the block IDs of a file.
func (d *DFS) Blocks(file string) ([]string, bool) {
	f, ok := d.files[file]
	if !ok {
		return nil, false
	}
	return slices.Clone(f.ids), true
}

// Locations returns the agents holding a block, in placement order, down
// agents included.
func (d *DFS) Locations(block string) ([]mezzo.AgentID, bool) {
	reps, ok := d.block(block)
	if !ok {
		return nil, false
	}
	out := make([]mezzo.AgentID, 0, Replication)
	for _, a := range reps {
		if a >= 0 {
			out = append(out, d.c.agents[a].ID)
		}
	}
	return out, true
}

// SetDown marks an agent as failed (true) or back (false). Replicas on a
// failed agent do not count for locality. Unknown agents are ignored.
func (d *DFS) SetDown(agent mezzo.AgentID, down bool) {
	if i, ok := d.c.index[agent]; ok {
		d.down[i] = down
	}
}

// Locality is how close agent is to the nearest live replica of block. An
// unknown agent or block, or a block whose replicas are all down, is Remote:
// the model assumes the data can still be fetched from elsewhere, slowly.
func (d *DFS) Locality(agent mezzo.AgentID, block string) Level {
	i, ok := d.c.index[agent]
	if !ok {
		return Remote
	}
	reps, ok := d.block(block)
	if !ok {
		return Remote
	}
	best := Remote
	for _, a := range reps {
		if a < 0 || d.down[a] {
			continue
		}
		if int(a) == i {
			return NodeLocal
		}
		if d.c.rackOf[a] == d.c.rackOf[i] {
			best = RackLocal
		}
	}
	return best
}

// InputLocality is the worst locality over a task's input blocks; NodeLocal
// for a task that reads nothing.
func (d *DFS) InputLocality(agent mezzo.AgentID, input []string) Level {
	worst := NodeLocal
	for _, b := range input {
		if l := d.Locality(agent, b); l > worst {
			worst = l
			if worst == Remote {
				break
			}
		}
	}
	return worst
}

// TaskDuration is how long a task of the given base duration runs on agent
// when it reads input: base times the factor of its slowest block.
func (d *DFS) TaskDuration(base time.Duration, agent mezzo.AgentID, input []string) time.Duration {
	if len(input) == 0 {
		return base
	}
	f := d.cost.Factor(d.InputLocality(agent, input))
	return time.Duration(math.Round(float64(base) * f))
}
