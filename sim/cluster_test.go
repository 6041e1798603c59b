package sim

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

func mustCluster(t *testing.T, cfg ClusterConfig) *Cluster {
	t.Helper()
	c, err := NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClusterDefaults(t *testing.T) {
	c := mustCluster(t, ClusterConfig{Agents: 93})
	if c.Size() != 93 {
		t.Fatalf("size %d", c.Size())
	}
	want := mezzo.MustParseResources("cpus:4;mem:15360")
	agents := c.Agents()
	for _, a := range agents {
		if !a.Resources.Equal(want) {
			t.Fatalf("%s offers %v, want %v", a.ID, a.Resources, want)
		}
		if len(a.Attributes) != 1 || a.Attributes[0] != (mezzo.Attribute{Name: "rack", Value: a.Rack}) {
			t.Fatalf("%s attributes %v, want rack:%s", a.ID, a.Attributes, a.Rack)
		}
	}
	if agents[0].ID != "agent-0001" || agents[92].ID != "agent-0093" || agents[0].Hostname != "agent-0001" {
		t.Fatalf("names %s … %s", agents[0].ID, agents[92].ID)
	}
	if got := c.Total(); got.Get(mezzo.CPUs) != 93*4 || got.Get(mezzo.Mem) != 93*15360 {
		t.Fatalf("total %v", got)
	}
	// 93 agents at 20 per rack: four full racks and one of 13.
	racks := c.Racks()
	if !slices.Equal(racks, []string{"rack-01", "rack-02", "rack-03", "rack-04", "rack-05"}) {
		t.Fatalf("racks %v", racks)
	}
	sizes := []int{}
	seen := 0
	for _, r := range racks {
		ids := c.RackAgents(r)
		sizes = append(sizes, len(ids))
		for _, id := range ids {
			if c.RackOf(id) != r {
				t.Fatalf("%s listed in %s but RackOf says %s", id, r, c.RackOf(id))
			}
			seen++
		}
	}
	if !slices.Equal(sizes, []int{20, 20, 20, 20, 13}) || seen != 93 {
		t.Fatalf("rack sizes %v", sizes)
	}
	if c.RackOf("agent-0020") != "rack-01" || c.RackOf("agent-0021") != "rack-02" {
		t.Fatal("racks are not filled in agent order")
	}
	if c.RackOf("nope") != "" || c.RackAgents("nope") != nil {
		t.Fatal("unknown names resolved")
	}
	if _, ok := c.Agent("agent-0050"); !ok {
		t.Fatal("Agent lookup failed")
	}
}

func TestClusterConfigured(t *testing.T) {
	res := mezzo.MustParseResources("cpus:8;mem:6144")
	c := mustCluster(t, ClusterConfig{Agents: 12345, AgentsPerRack: 40, Resources: res})
	a, ok := c.Agent("agent-12345")
	if !ok || !a.Resources.Equal(res) {
		t.Fatalf("last agent %v %v", a, ok)
	}
	racks := c.Racks()
	if len(racks) != 309 || racks[0] != "rack-001" || !slices.IsSorted(racks) {
		t.Fatalf("%d racks, first %q", len(racks), racks[0])
	}
	ids := make([]string, 0, c.Size())
	for _, a := range c.Agents() {
		ids = append(ids, string(a.ID))
	}
	if !slices.IsSorted(ids) {
		t.Fatal("agent names do not sort in numeric order")
	}
}

func TestClusterRejectsBadConfig(t *testing.T) {
	for _, cfg := range []ClusterConfig{{Agents: 0}, {Agents: -3}, {Agents: 5, AgentsPerRack: -1}} {
		if _, err := NewCluster(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestParseFailuresFile(t *testing.T) {
	f, err := os.Open("testdata/failures.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs, err := ParseFailures(f, "testdata/failures.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []Failure{
		{"agent-0003", time.Minute, 3 * time.Minute},
		{"agent-0021", 30 * time.Second, 45 * time.Second},
		{"agent-0021", 10 * time.Minute, 12 * time.Minute},
		{"agent-0040", time.Hour, 0},
	}
	if !slices.Equal(fs, want) {
		t.Fatalf("parsed %v, want %v", fs, want)
	}
	if err := mustCluster(t, ClusterConfig{Agents: 40}).CheckFailures(fs); err != nil {
		t.Fatal(err)
	}
	// The same list names an agent a smaller cluster lacks.
	err = mustCluster(t, ClusterConfig{Agents: 39}).CheckFailures(fs)
	if err == nil || !strings.Contains(err.Error(), "agent-0040") {
		t.Fatalf("unknown agent not reported: %v", err)
	}
}

func TestParseFailuresErrorsNameTheLine(t *testing.T) {
	f, err := os.Open("testdata/failures_bad.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = ParseFailures(f, "testdata/failures_bad.txt")
	if err == nil || !strings.HasPrefix(err.Error(), "testdata/failures_bad.txt:4:") {
		t.Fatalf("error %v, want one naming line 4", err)
	}
	for _, text := range []string{"agent-0001 soon 3m", "agent-0001 1m later", "agent-0001 1m 0s"} {
		if _, err := ParseFailures(strings.NewReader(text), "x"); err == nil || !strings.HasPrefix(err.Error(), "x:1:") {
			t.Errorf("%q: error %v", text, err)
		}
	}
}

func TestCheckFailures(t *testing.T) {
	c := mustCluster(t, ClusterConfig{Agents: 10})
	cases := []struct {
		fs   []Failure
		want string // "" for valid
	}{
		{[]Failure{{"agent-0001", 0, time.Second}, {"agent-0001", time.Second, 0}}, ""},
		{[]Failure{{"agent-0001", -time.Second, 0}}, "before the start"},
		{[]Failure{{"agent-0001", time.Minute, time.Minute}}, "not after"},
		{[]Failure{{"agent-0002", time.Minute, 0}, {"agent-0002", time.Hour, 2 * time.Hour}}, "overlaps"},
		{[]Failure{{"agent-0002", time.Hour, 2 * time.Hour}, {"agent-0002", 90 * time.Minute, 0}}, "failure 2"},
	}
	for _, tc := range cases {
		err := c.CheckFailures(tc.fs)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.fs, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one containing %q", tc.fs, err, tc.want)
		}
	}
}
