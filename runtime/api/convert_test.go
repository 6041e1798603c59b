package api

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mezzo-cluster/mezzo"
	"google.golang.org/protobuf/proto"
)

var cmpResources = cmp.Comparer(func(a, b mezzo.Resources) bool { return a.Equal(b) })

// wire sends a message through its binary encoding, so the tests cover what
// really travels, not just the in-memory structs.
func wire[T proto.Message](t *testing.T, m T) T {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := m.ProtoReflect().New().Interface().(T)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestResourcesRoundTrip(t *testing.T) {
	for _, text := range []string{
		"", "cpus:0.001", "cpus:4;mem:8192.5;disk:1e6;gpus:2;ports:[31000-32000,40000-40010]",
		"custom:3.333;ports:[1-1]",
	} {
		r := mezzo.MustParseResources(text)
		got, err := ResourcesFromProto(wire(t, ResourcesToProto(r)))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if !got.Equal(r) {
			t.Errorf("%q: round trip gave %v", text, got)
		}
	}
}

func TestResourcesFromProtoErrors(t *testing.T) {
	for name, p := range map[string]*Resources{
		"negative": {Scalars: []*Scalar{{Name: "cpus", Milli: -1}}},
		"ports":    {Scalars: []*Scalar{{Name: "ports", Milli: 1}}},
		"range":    {Ports: []*Range{{Begin: 5, End: 4}}},
		"noname":   {Scalars: []*Scalar{{Milli: 1}}},
	} {
		if _, err := ResourcesFromProto(p); err == nil || !strings.Contains(err.Error(), "resources") {
			t.Errorf("%s: want a resources error, got %v", name, err)
		}
	}
	r, err := ResourcesFromProto(&Resources{Scalars: []*Scalar{{Name: "cpus", Milli: 500}, {Name: "cpus", Milli: 250}}})
	if err != nil || r.Get(mezzo.CPUs) != 0.75 {
		t.Errorf("repeated scalars should add: %v %v", r, err)
	}
}

func TestTaskRoundTrip(t *testing.T) {
	tasks := []mezzo.TaskInfo{
		{ID: "t1", Name: "noop", AgentID: "a1", Resources: mezzo.MustParseResources("cpus:1;mem:128"), Duration: 3 * time.Second},
		{
			ID: "t2", AgentID: "a2", Resources: mezzo.MustParseResources("cpus:0.5;ports:[31000-31001]"),
			Command: &mezzo.CommandInfo{Value: "/bin/echo", Args: []string{"echo", "hi"}, Env: []string{"A=b"}, User: "nobody"},
			Data:    []byte{1, 2, 3}, Input: []string{"blk1", "blk2"}, Labels: map[string]string{"k": "v"},
		},
		{
			ID: "t3", Resources: mezzo.Cpus(1),
			Executor: &mezzo.ExecutorInfo{ID: "e1", Name: "pi", Kind: "pi", Resources: mezzo.MemMB(32),
				Command: &mezzo.CommandInfo{Value: "exit 0", Shell: true}},
		},
	}
	for _, task := range tasks {
		got, err := TaskFromProto(wire(t, TaskToProto(task)))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(task, got, cmpResources); d != "" {
			t.Errorf("task %s round trip (-want +got):\n%s", task.ID, d)
		}
	}
	if _, err := TaskFromProto(&TaskInfo{TaskId: "bad", Resources: &Resources{Scalars: []*Scalar{{Name: "mem", Milli: -5}}}}); err == nil || !strings.Contains(err.Error(), `task "bad"`) {
		t.Errorf("bad task resources: want error naming the task, got %v", err)
	}
	if _, err := TaskFromProto(&TaskInfo{TaskId: "neg", DurationNanos: -1}); err == nil {
		t.Error("negative duration accepted")
	}
}

func TestStatusRoundTrip(t *testing.T) {
	for s := mezzo.TaskStaging; s <= mezzo.TaskKilling; s++ {
		if TaskState_name[int32(s)] != s.String() {
			t.Errorf("state %d: proto name %q, mezzo name %q", s, TaskState_name[int32(s)], s)
		}
		st := mezzo.TaskStatus{
			TaskID: "t", AgentID: "a", ExecutorID: "e", State: s, Reason: mezzo.ReasonMemoryLimit,
			Message: "m", Data: []byte("3.14"), Time: time.Unix(1700000000, 123456789), UUID: "u-1",
		}
		got, err := StatusFromProto(wire(t, StatusToProto(st)))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(st, got); d != "" {
			t.Errorf("%v (-want +got):\n%s", s, d)
		}
	}
	zero, err := StatusFromProto(wire(t, StatusToProto(mezzo.TaskStatus{TaskID: "z"})))
	if err != nil || !zero.Time.IsZero() {
		t.Errorf("zero time should stay zero: %v %v", zero.Time, err)
	}
	if _, err := StatusFromProto(&TaskStatus{TaskId: "x", State: 99}); err == nil || !strings.Contains(err.Error(), "unknown task state 99") {
		t.Errorf("unknown state: got %v", err)
	}
}

func TestOfferFrameworkFiltersRoundTrip(t *testing.T) {
	o := mezzo.Offer{ID: "o1", FrameworkID: "f1", AgentID: "a1", Hostname: "h",
		Attributes: []mezzo.Attribute{{Name: "rack", Value: "r1"}, {Name: "zone", Value: "z"}},
		Resources:  mezzo.MustParseResources("cpus:8;mem:1024;ports:[1000-2000]")}
	gotO, err := OfferFromProto(wire(t, OfferToProto(o)))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(o, gotO, cmpResources); d != "" {
		t.Errorf("offer (-want +got):\n%s", d)
	}

	f := mezzo.FrameworkInfo{ID: "f1", Name: "pi", Role: "science", User: "u", FailoverTimeout: time.Minute, Principal: "analytics",
		Constraints: mezzo.OfferConstraints{MinResources: mezzo.Cpus(1), Agents: []mezzo.AgentID{"a1", "a2"}}}
	gotF, err := FrameworkFromProto(wire(t, FrameworkToProto(f)))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(f, gotF, cmpResources); d != "" {
		t.Errorf("framework (-want +got):\n%s", d)
	}

	for _, d := range []time.Duration{0, -1, 30 * time.Second} {
		got := FiltersFromProto(wire(t, FiltersToProto(mezzo.Filters{Refuse: d})))
		if got.Refuse != d {
			t.Errorf("filters %v came back %v", d, got.Refuse)
		}
	}
	if FiltersFromProto(nil).RefuseDuration() != mezzo.DefaultRefuse {
		t.Error("nil filters should mean the default refuse duration")
	}
}
