package master

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// populate fills a running master with agents, frameworks and one running
// task per agent, through the same loop functions the gRPC handlers call
// (subscribeAgent, subscribeFramework, accept, agentUpdate), minus the
// network: 10,000 gRPC streams would measure the test's own sockets. The
// outboxes are never drained, as if every peer were slow.
func populate(tb testing.TB, m *Master, agents, frameworks int) {
	tb.Helper()
	ctx := context.Background()
	res := api.ResourcesToProto(mezzo.MustParseResources("cpus:8;mem:16384;ports:[31000-32000]"))
	err := m.call(ctx, func() error {
		for i := range frameworks {
			_, err := m.subscribeFramework(mezzo.FrameworkInfo{Name: fmt.Sprintf("fw%d", i), Role: fmt.Sprintf("role%d", i%4)}, newOutbox[*api.SchedulerEvent]())
			if err != nil {
				return err
			}
		}
		for i := range agents {
			req := &api.AgentSubscribeRequest{Agent: &api.AgentInfo{Hostname: fmt.Sprintf("host%05d", i), Resources: res,
				Attributes: api.AttributesToProto([]mezzo.Attribute{{Name: "rack", Value: fmt.Sprintf("r%d", i%40)}})}}
			if _, err := m.subscribeAgent(req, newOutbox[*api.AgentEvent](), secretDigest(newSecret()), ""); err != nil {
				return err
			}
		}
		// One task per agent: allocate, then accept every offer with a task.
		offers := m.alloc.Allocate(time.Now())
		clear(m.dirty)
		m.allDirty = false
		for i, o := range offers {
			fw := m.frameworks[o.FrameworkID]
			t := mezzo.TaskInfo{ID: mezzo.TaskID(fmt.Sprintf("t%05d", i)), Resources: mezzo.MustParseResources("cpus:1;mem:1024"),
				Command: &mezzo.CommandInfo{Value: "sleep 1000", Shell: true}}
			m.accept(fw, &api.AcceptRequest{OfferIds: []string{string(o.ID)},
				Operations: []*api.Operation{{Operation: &api.Operation_Launch_{Launch: &api.Operation_Launch{Tasks: []*api.TaskInfo{api.TaskToProto(t)}}}}},
				Filters:    api.FiltersToProto(mezzo.Filters{Refuse: time.Hour})})
			if err := m.agentUpdate(m.agents[o.AgentID], &api.AgentUpdateRequest{FrameworkId: string(fw.id),
				Status: api.StatusToProto(mezzo.TaskStatus{TaskID: t.ID, AgentID: o.AgentID, State: mezzo.TaskRunning, UUID: fmt.Sprintf("u%d", i)})}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func benchMaster(tb testing.TB) *Master {
	tb.Helper()
	m, err := New(Config{Listen: "127.0.0.1:0", PingInterval: time.Hour, AllocationInterval: time.Hour, HeartbeatInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := m.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Stop)
	return m
}

// BenchmarkStateEndpoint measures GET /state and friends on a master with
// 10,000 agents, 10 frameworks and 10,000 running tasks.
//
//   - fresh: the view is rebuilt for every request (max age 0), the worst
//     case; loop-ms/op is the part spent on the master's loop (the only
//     time the allocator waits), the rest is sorting and JSON encoding in
//     the HTTP goroutine.
//   - cached: requests within the view's max age (250 ms by default) share
//     one view and its encoded body.
//   - agents-page and tasks-filter: what the UI and the CLI ask for.
func BenchmarkStateEndpoint(b *testing.B) {
	const agents = 10000
	m := benchMaster(b)
	populate(b, m, agents, 10)
	h := m.Handler()
	get := func(b *testing.B, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		return rec.Body.Len()
	}
	b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
		b.Run("fresh", func(b *testing.B) {
			m.SetViewMaxAge(0)
			var loop time.Duration
			size := 0
			for b.Loop() {
				// Time the loop's share of the same rebuild the request
				// makes.
				start := time.Now()
				_ = m.call(context.Background(), func() error { _ = m.buildView(); return nil })
				loop += time.Since(start)
				size = get(b, "/state")
			}
			b.ReportMetric(float64(loop.Microseconds())/1000/float64(b.N), "loop-ms/op")
			b.ReportMetric(float64(size)/1e6, "MB")
		})
		b.Run("cached", func(b *testing.B) {
			m.SetViewMaxAge(time.Hour)
			for b.Loop() {
				get(b, "/state")
			}
		})
		b.Run("agents-page", func(b *testing.B) {
			m.SetViewMaxAge(DefaultViewMaxAge)
			for b.Loop() {
				get(b, "/agents?offset=5000&limit=50")
			}
		})
		b.Run("tasks-filter", func(b *testing.B) {
			m.SetViewMaxAge(DefaultViewMaxAge)
			for b.Loop() {
				get(b, "/tasks?framework="+string(m.sortedFrameworks()[3].id)+"&state=running&limit=100")
			}
		})
		b.Run("ui-agents-page", func(b *testing.B) {
			m.SetViewMaxAge(DefaultViewMaxAge)
			for b.Loop() {
				get(b, "/ui/agents?page=100")
			}
		})
	})
}

// TestPopulatedView checks the benchmark's fixture and the view agree with
// the master: every agent, every task, one running per agent.
func TestPopulatedView(t *testing.T) {
	m := benchMaster(t)
	populate(t, m, 200, 3)
	v, err := m.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Agents) != 200 || len(v.Tasks) != 200 || v.Summary.LiveTasks["TASK_RUNNING"] != 200 || v.Summary.FrameworksActive != 3 {
		t.Fatalf("view: %d agents, %d tasks, %v live, %d frameworks; want 200, 200, 200 running, 3",
			len(v.Agents), len(v.Tasks), v.Summary.LiveTasks, v.Summary.FrameworksActive)
	}
	if v.Summary.PendingAcks != 200 {
		t.Errorf("pending acks = %d, want 200 (no scheduler acknowledged)", v.Summary.PendingAcks)
	}
	for i := 1; i < len(v.Agents); i++ {
		if v.Agents[i-1].ID >= v.Agents[i].ID {
			t.Fatalf("agents not sorted at %d: %s, %s", i, v.Agents[i-1].ID, v.Agents[i].ID)
		}
	}
	a := v.Agents[17]
	if tasks := v.AgentTasks(a.ID); len(tasks) != 1 || tasks[0].Agent != a.ID || a.LiveTasks != 1 {
		t.Errorf("agent %s: tasks %+v, live %d; want its one task", a.ID, tasks, a.LiveTasks)
	}
	tk := v.Tasks[42]
	if got, ok := v.Task(tk.Framework, tk.ID); !ok || got.ID != tk.ID {
		t.Errorf("Task(%s, %s) = %+v, %v", tk.Framework, tk.ID, got, ok)
	}
	if _, ok := v.Task(tk.Framework, "nope"); ok {
		t.Error("Task found a task that does not exist")
	}
}
