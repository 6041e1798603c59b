package master_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
)

// TestOversizedFrameworkRefused: a 4 MB framework name is refused at
// subscription, the error naming the field and the limit.
func TestOversizedFrameworkRefused(t *testing.T) {
	_, addr := startMaster(t, master.Config{})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := api.NewSchedulerAPIClient(conn).Subscribe(ctx, &api.SubscribeRequest{Framework: &api.FrameworkInfo{Name: strings.Repeat("n", 4_000_000)}})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "framework name is 4000000 bytes; the limit is 1024") {
		t.Fatalf("4 MB name: %v, want InvalidArgument naming the limit", err)
	}
}

// TestOversizedTasksRefused: tasks over a bound end TASK_ERROR
// (REASON_TASK_INVALID) with the field and the limit, and are never sent
// to the agent; the others of the accept launch.
func TestOversizedTasksRefused(t *testing.T) {
	_, addr := startMaster(t, master.Config{})
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: "cpus:8;mem:4096"})
	s := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "f"})
	ok := task("ok", "cpus:1;mem:64")
	data := task("data", "cpus:1;mem:64")
	data.Data = make([]byte, api.MaxTaskDataBytes+1)
	slash := task("a/../b", "cpus:1;mem:64")
	long := task(strings.Repeat("é", 600), "cpus:1;mem:64") // 1200 bytes
	if err := s.Accept(ids(s.TakeOffers(wait)[:1]), []mezzo.TaskInfo{data, slash, long, ok}, mezzo.Filters{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   mezzo.TaskID
		want string
	}{
		{data.ID, "data is 1048577 bytes; the limit is 1048576"},
		{slash.ID, "path separator"},
		{long.ID, "task ID is 1200 bytes; the limit is 1024"},
	} {
		st := s.NextUpdate(c.id, wait)
		if st.State != mezzo.TaskError || st.Reason != mezzo.ReasonTaskInvalid || !strings.Contains(st.Message, c.want) {
			t.Errorf("task %.20q: %s %s %q, want TASK_ERROR REASON_TASK_INVALID with %q", c.id, st.State, st.Reason, st.Message, c.want)
		}
	}
	seen := agent.WaitFor("the launch of ok", wait, func(seen mastertest.AgentSeen) bool { return len(seen.Launched) > 0 })
	if len(seen.Launched) != 1 || seen.Launched[0].Task.ID != "ok" {
		t.Fatalf("the agent was sent %v, want only ok", seen.Launched)
	}
}

// TestLaunchEventBounded: one accept's tasks reach the agent in one event,
// kept under api.MaxLaunchBytes; the tasks past it are refused (with a
// master that takes requests larger than the event may be).
func TestLaunchEventBounded(t *testing.T) {
	_, addr := startMaster(t, master.Config{ServerOptions: []grpc.ServerOption{grpc.MaxRecvMsgSize(16 << 20)}})
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h1", Resources: "cpus:8;mem:4096"})
	s := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "f"})
	var tasks []mezzo.TaskInfo
	for _, id := range []string{"t1", "t2", "t3", "t4", "t5"} {
		tk := task(id, "cpus:1;mem:64")
		tk.Data = make([]byte, api.MaxTaskDataBytes)
		tasks = append(tasks, tk)
	}
	if err := s.Accept(ids(s.TakeOffers(wait)[:1]), tasks, mezzo.Filters{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []mezzo.TaskID{"t4", "t5"} {
		if st := s.NextUpdate(id, wait); st.State != mezzo.TaskError || !strings.Contains(st.Message, "launch it in another accept") {
			t.Errorf("%s: %s %q, want TASK_ERROR: over one launch's bytes", id, st.State, st.Message)
		}
	}
	seen := agent.WaitFor("the launch", wait, func(seen mastertest.AgentSeen) bool { return len(seen.Launched) == 3 })
	for i, l := range seen.Launched {
		if want := mezzo.TaskID([]string{"t1", "t2", "t3"}[i]); l.Task.ID != want || len(l.Task.Data) != api.MaxTaskDataBytes {
			t.Errorf("launch %d: %s with %d bytes, want %s with its data", i, l.Task.ID, len(l.Task.Data), want)
		}
	}
}
