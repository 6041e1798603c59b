package attack

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
)

// TestClusterServesTenants checks the harness itself: tenant-a runs a task
// in its role and reads its output through the master, and tenant-b is
// refused tenant-a's role.
func TestClusterServesTenants(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "victim", Role: "a", User: "nobody"})
	a.run("hello", "cpus:0.1;mem:32", "echo hello from tenant-a")
	end := a.waitState("hello", 30*time.Second, mezzo.TaskFinished, mezzo.TaskFailed, mezzo.TaskError, mezzo.TaskLost)
	if end.State != mezzo.TaskFinished {
		t.Fatalf("task ended %v: %s", end.State, end.Message)
	}
	code, body := c.httpGet(tenantA, "/sandbox/"+c.agents[0].id+"/"+a.id+"/command-hello/task-hello.stdout")
	if code != 200 || !strings.Contains(body, "hello from tenant-a") {
		t.Errorf("tenant-a reading its own stdout: %d %q", code, body)
	}
	_, err := subscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{Name: "intruder", Role: "a", User: "nobody"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("tenant-b subscribing in role a: %v, want PermissionDenied", err)
	}
}
