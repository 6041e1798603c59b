package sim

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

func mustDFS(t *testing.T, c *Cluster, seed uint64) *DFS {
	t.Helper()
	d, err := NewDFS(c, rand.New(rand.NewPCG(seed, 0)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustAdd(t *testing.T, d *DFS, name string, bytes int64) []string {
	t.Helper()
	ids, err := d.AddFile(name, bytes)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestDFSSplitsIntoBlocks(t *testing.T) {
	d := mustDFS(t, mustCluster(t, ClusterConfig{Agents: 10}), 1)
	for _, tc := range []struct {
		bytes int64
		n     int
	}{{0, 0}, {1, 1}, {BlockSize, 1}, {BlockSize + 1, 2}, {10 * BlockSize, 10}} {
		name := "f" + time.Duration(tc.bytes).String()
		ids := mustAdd(t, d, name, tc.bytes)
		if len(ids) != tc.n {
			t.Errorf("%d bytes: %d blocks, want %d", tc.bytes, len(ids), tc.n)
		}
		got, ok := d.Blocks(name)
		if !ok || !slices.Equal(got, ids) {
			t.Errorf("Blocks(%q) = %v, %v", name, got, ok)
		}
	}
	ids := mustAdd(t, d, "logs", 8*BlockSize)
	if ids[7] != "logs/0007" {
		t.Fatalf("block ID %q, want logs/0007", ids[7])
	}
	for _, bad := range []struct {
		name  string
		bytes int64
		want  string
	}{{"logs", 1, "already exists"}, {"", 1, "empty name"}, {"neg", -1, "negative"}} {
		if _, err := d.AddFile(bad.name, bad.bytes); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("AddFile(%q, %d): error %v, want %q", bad.name, bad.bytes, err, bad.want)
		}
	}
}

func TestDFSReplicasDistinctAndDeterministic(t *testing.T) {
	c := mustCluster(t, ClusterConfig{Agents: 5})
	place := func(seed uint64) [][]mezzo.AgentID {
		d := mustDFS(t, c, seed)
		var out [][]mezzo.AgentID
		for _, id := range mustAdd(t, d, "data", 500*BlockSize) {
			locs, ok := d.Locations(id)
			if !ok {
				t.Fatalf("no locations for %s", id)
			}
			out = append(out, locs)
		}
		return out
	}
	a := place(9)
	for i, locs := range a {
		if len(locs) != Replication {
			t.Fatalf("block %d on %d agents", i, len(locs))
		}
		s := slices.Clone(locs)
		slices.Sort(s)
		if len(slices.Compact(s)) != Replication {
			t.Fatalf("block %d replicas not distinct: %v", i, locs)
		}
	}
	if !slices.EqualFunc(a, place(9), slices.Equal) {
		t.Fatal("same seed, different placement")
	}
	if slices.EqualFunc(a, place(10), slices.Equal) {
		t.Fatal("different seeds, same placement")
	}
}

func TestDFSSmallClusterReplicatesToAll(t *testing.T) {
	d := mustDFS(t, mustCluster(t, ClusterConfig{Agents: 2}), 3)
	ids := mustAdd(t, d, "f", 3*BlockSize)
	for _, id := range ids {
		locs, _ := d.Locations(id)
		slices.Sort(locs)
		if !slices.Equal(locs, []mezzo.AgentID{"agent-0001", "agent-0002"}) {
			t.Fatalf("%s on %v", id, locs)
		}
	}
}

// Uniform placement: with 100 agents and 30,000 replicas each agent expects
// 300 (standard deviation ≈ 17); every agent must be within ±25%, and every
// position of the triple must be used evenly too.
func TestDFSPlacementRoughlyUniform(t *testing.T) {
	c := mustCluster(t, ClusterConfig{Agents: 100})
	d := mustDFS(t, c, 5)
	count := map[mezzo.AgentID]int{}
	first := map[mezzo.AgentID]int{}
	for _, id := range mustAdd(t, d, "big", 10000*BlockSize) {
		locs, _ := d.Locations(id)
		for _, a := range locs {
			count[a]++
		}
		first[locs[0]]++
	}
	for _, a := range c.Agents() {
		if n := count[a.ID]; n < 225 || n > 375 {
			t.Errorf("%s holds %d replicas, want 300±75", a.ID, n)
		}
		if n := first[a.ID]; n < 60 || n > 140 {
			t.Errorf("%s is the first replica %d times, want 100±40", a.ID, n)
		}
	}
}

func TestDFSLocality(t *testing.T) {
	c := mustCluster(t, ClusterConfig{Agents: 100, AgentsPerRack: 10})
	d := mustDFS(t, c, 11)
	ids := mustAdd(t, d, "f", 200*BlockSize)
	counts := map[Level]int{}
	for _, id := range ids {
		locs, _ := d.Locations(id)
		holders := map[mezzo.AgentID]bool{}
		racks := map[string]bool{}
		for _, a := range locs {
			holders[a] = true
			racks[c.RackOf(a)] = true
		}
		for _, a := range c.Agents() {
			want := Remote
			switch {
			case holders[a.ID]:
				want = NodeLocal
			case racks[a.Rack]:
				want = RackLocal
			}
			got := d.Locality(a.ID, id)
			if got != want {
				t.Fatalf("Locality(%s, %s) = %v, want %v (replicas %v)", a.ID, id, got, want, locs)
			}
			counts[got]++
		}
	}
	if counts[NodeLocal] == 0 || counts[RackLocal] == 0 || counts[Remote] == 0 {
		t.Fatalf("not every level seen: %v", counts)
	}
	if d.Locality("nobody", ids[0]) != Remote || d.Locality("agent-0001", "missing/0000") != Remote {
		t.Fatal("unknown agent or block is not remote")
	}
}

func TestDFSDownReplicasDoNotCount(t *testing.T) {
	c := mustCluster(t, ClusterConfig{Agents: 40, AgentsPerRack: 20})
	d := mustDFS(t, c, 2)
	id := mustAdd(t, d, "f", 1)[0]
	locs, _ := d.Locations(id)
	holder := locs[0]
	if d.Locality(holder, id) != NodeLocal {
		t.Fatal("holder is not node-local")
	}
	d.SetDown(holder, true)
	if got := d.Locality(holder, id); got == NodeLocal {
		t.Fatal("a down replica still counts as local")
	}
	for _, a := range locs {
		d.SetDown(a, true)
	}
	if got := d.Locality(holder, id); got != Remote {
		t.Fatalf("all replicas down: %v, want remote", got)
	}
	d.SetDown(holder, false)
	if d.Locality(holder, id) != NodeLocal {
		t.Fatal("replica back up is not local again")
	}
}

func TestDFSTaskDuration(t *testing.T) {
	c := mustCluster(t, ClusterConfig{Agents: 60, AgentsPerRack: 20})
	d := mustDFS(t, c, 4)
	if err := d.SetReadCost(ReadCost{NodeLocal: 1, RackLocal: 1.5, Remote: 3}); err != nil {
		t.Fatal(err)
	}
	ids := mustAdd(t, d, "f", 300*BlockSize)
	base := 10 * time.Second
	seen := map[Level]bool{}
	for _, a := range c.Agents() {
		for i := 0; i+1 < len(ids); i += 7 {
			input := ids[i : i+2]
			worst := max(d.Locality(a.ID, input[0]), d.Locality(a.ID, input[1]))
			want := map[Level]time.Duration{NodeLocal: base, RackLocal: 15 * time.Second, Remote: 30 * time.Second}[worst]
			if got := d.TaskDuration(base, a.ID, input); got != want {
				t.Fatalf("TaskDuration on %s reading %v (%v) = %v, want %v", a.ID, input, worst, got, want)
			}
			if d.InputLocality(a.ID, input) != worst {
				t.Fatal("InputLocality is not the worst block's level")
			}
			seen[worst] = true
		}
	}
	if len(seen) != 3 {
		t.Fatalf("levels exercised: %v", seen)
	}
	if d.TaskDuration(base, "agent-0001", nil) != base {
		t.Fatal("a task with no input is slowed")
	}
}

func TestReadCost(t *testing.T) {
	def := DefaultReadCost()
	if def.Check() != nil || !(def.Factor(NodeLocal) == 1 && def.Factor(NodeLocal) < def.Factor(RackLocal) && def.Factor(RackLocal) < def.Factor(Remote)) {
		t.Fatalf("default read cost %+v is not 1 < rack < remote", def)
	}
	d := mustDFS(t, mustCluster(t, ClusterConfig{Agents: 3}), 1)
	for _, bad := range []ReadCost{{0, 1, 1}, {1, -1, 2}, {1, 1, 0}} {
		if d.SetReadCost(bad) == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if d.ReadCost() != def {
		t.Fatal("a rejected read cost replaced the default")
	}
	if NodeLocal.String() != "node-local" || Remote.String() != "remote" {
		t.Fatal("level names")
	}
}

func TestNewDFSRejectsMissingInputs(t *testing.T) {
	if _, err := NewDFS(nil, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("nil cluster accepted")
	}
	if _, err := NewDFS(mustCluster(t, ClusterConfig{Agents: 3}), nil); err == nil {
		t.Error("nil rand accepted")
	}
}

func TestDFSBlockIDs(t *testing.T) {
	d := mustDFS(t, mustCluster(t, ClusterConfig{Agents: 10}), 6)
	outer := mustAdd(t, d, "a", 2*BlockSize)
	inner := mustAdd(t, d, "a/0001", BlockSize)
	if outer[1] != "a/0001" || inner[0] != "a/0001/0000" {
		t.Fatalf("IDs %v %v", outer, inner)
	}
	for _, id := range []string{outer[0], outer[1], inner[0]} {
		if _, ok := d.Locations(id); !ok {
			t.Errorf("%s not found", id)
		}
	}
	for _, id := range []string{"a/1", "a/00001", "a/0002", "a/000x", "a", "b/0000", "a/-001", "a/99999999999999999999"} {
		if locs, ok := d.Locations(id); ok {
			t.Errorf("%q resolved to %v", id, locs)
		}
	}
	big := mustAdd(t, d, "big", 10001*BlockSize)
	if big[9999] != "big/9999" || big[10000] != "big/10000" {
		t.Fatalf("IDs past 9999: %s %s", big[9999], big[10000])
	}
	if _, ok := d.Locations("big/10000"); !ok {
		t.Fatal("big/10000 not found")
	}
	if _, ok := d.Locations("big/010000"); ok {
		t.Fatal("non-canonical big/010000 resolved")
	}
}
