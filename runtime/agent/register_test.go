package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// bigAgent is an emulated agent (not run) holding n tasks of one framework
// with labels of labelBytes each.
func bigAgent(t *testing.T, m *fakeMaster, n, labelBytes int) *Agent {
	t.Helper()
	a, err := New(Config{Master: m.addr, Emulated: true, Resources: mezzo.MustParseResources("cpus:8"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.closeConn)
	a.id, a.secret = "m1-A0001", "s3cret"
	a.frameworks["f"] = &framework{info: mezzo.FrameworkInfo{ID: "f", Name: "f"}}
	for i := 0; i < n; i++ {
		id := mezzo.TaskID(fmt.Sprintf("t%05d", i))
		a.tasks[streamKey{"f", id}] = &task{fw: "f", state: mezzo.TaskRunning, info: mezzo.TaskInfo{ID: id,
			Resources: mezzo.MustParseResources("cpus:0.001"), Labels: map[string]string{"l": strings.Repeat("x", labelBytes)},
			Data: make([]byte, 4096), Command: &mezzo.CommandInfo{Value: strings.Repeat("c", 1024), User: "nobody"}}}
	}
	return a
}

// TestReregistrationIsSlim: a task's data and command line stay on the
// agent; what the master keeps (ID, resources, user) goes.
func TestReregistrationIsSlim(t *testing.T) {
	a := bigAgent(t, startFakeMaster(t, false), 2, 10)
	req := a.subscribeRequest()
	if len(req.Tasks) != 2 || req.AgentSecret != "s3cret" {
		t.Fatalf("request: %d tasks, secret %q", len(req.Tasks), req.AgentSecret)
	}
	p := req.Tasks[0].Task
	if len(p.Data) != 0 || p.Command.GetValue() != "" || p.Command.GetUser() != "nobody" || p.TaskId != "t00000" || p.Resources == nil {
		t.Fatalf("slim task: %v", p)
	}
}

// TestLargeRegistrationGoesInParts: an agent whose registration is over
// api.RegisterPartBytes sends it in parts under it, which merge back into
// the whole.
func TestLargeRegistrationGoesInParts(t *testing.T) {
	m := startFakeMaster(t, false)
	a := bigAgent(t, m, 6000, 400) // ~2.5 MB slim
	req := a.subscribeRequest()
	if proto.Size(req) <= 2*api.RegisterPartBytes {
		t.Fatalf("registration of %d bytes is too small for the test", proto.Size(req))
	}
	parts := splitRegistration(req, api.RegisterPartBytes)
	merged := &api.AgentSubscribeRequest{}
	for _, p := range parts {
		if n := proto.Size(p); n > api.RegisterPartBytes {
			t.Errorf("a part of %d bytes", n)
		}
		proto.Merge(merged, p)
	}
	if !proto.Equal(merged, req) {
		t.Fatal("the parts do not merge back into the registration")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := a.openRegistration(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil || ev.GetRegistered() == nil {
		t.Fatalf("registered: %v %v", ev, err)
	}
	got := <-m.subscribes
	m.mu.Lock()
	n := m.parts
	m.mu.Unlock()
	if n != len(parts) || n < 3 || len(got.Tasks) != 6000 || got.AgentSecret != "s3cret" {
		t.Fatalf("master got %d parts (want %d), %d tasks, secret %q", n, len(parts), len(got.Tasks), got.AgentSecret)
	}
}

// TestUpdatesBatchedUnderTheLimit: due updates leave in calls of at most
// api.RegisterPartBytes each.
func TestUpdatesBatchedUnderTheLimit(t *testing.T) {
	var due []dueUpdate
	for i := 0; i < 10; i++ {
		due = append(due, dueUpdate{fw: "f", status: mezzo.TaskStatus{TaskID: mezzo.TaskID(fmt.Sprint(i)), Data: make([]byte, 300<<10)}})
	}
	batches := updateBatches(due, api.RegisterPartBytes)
	total := 0
	for _, b := range batches {
		total += len(b)
		if n := proto.Size(&api.AgentUpdatesRequest{Updates: b}); n > api.RegisterPartBytes {
			t.Errorf("a call of %d bytes", n)
		}
	}
	if total != 10 || len(batches) != 4 {
		t.Fatalf("%d updates in %d calls, want 10 in 4", total, len(batches))
	}
}
