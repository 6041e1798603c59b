package attack

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// What a holder of the shared agent certificate can make the master do
// with what it reports at registration.

// reportAs registers an agent with the agent certificate and req, and
// returns the first event's error (nil once Registered came). The
// registration stays until the test ends.
func reportAs(t *testing.T, c *cluster, req *api.AgentSubscribeRequest) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := api.NewAgentAPIClient(c.dial("agent")).Subscribe(ctx, req)
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

// TestAgentReportCannotFillTenantCap: an agent reporting frameworks in
// tenant-a's name (invented, with a task each) does not use up
// tenant-a's frameworks: tenant-a registers as many of its own as its cap
// allows, and no more.
func TestAgentReportCannotFillTenantCap(t *testing.T) {
	c := newCluster(t, clusterOptions{MasterArgs: []string{"--max-frameworks-per-principal", "2"}})
	req := &api.AgentSubscribeRequest{Agent: &api.AgentInfo{AgentId: "forged-A1", Hostname: "forged",
		Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:1;mem:64"))}}
	for i := range 3 {
		id := fmt.Sprintf("invented-%d", i)
		req.Frameworks = append(req.Frameworks, &api.FrameworkInfo{FrameworkId: id, Name: "x", Role: "a", Principal: tenantA, FailoverTimeoutNanos: int64(time.Hour)})
		req.Tasks = append(req.Tasks, &api.RunningTask{FrameworkId: id, State: api.TaskState_TASK_RUNNING,
			Task: api.TaskToProto(mezzo.TaskInfo{ID: "t", Resources: mezzo.MustParseResources("cpus:0.1;mem:8")})})
	}
	if err := reportAs(t, c, req); err != nil {
		t.Fatalf("the forged agent's registration: %v", err)
	}
	conn := c.dial(tenantA)
	for i := range 2 {
		if _, err := subscribe(t, conn, mezzo.FrameworkInfo{Name: fmt.Sprintf("own-%d", i), Role: "a", User: "nobody"}); err != nil {
			t.Fatalf("tenant-a's framework %d of its cap of 2, after the agent's report: %v", i+1, err)
		}
	}
	if _, err := subscribe(t, conn, mezzo.FrameworkInfo{Name: "over", Role: "a", User: "nobody"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("tenant-a's third framework: %v, want ResourceExhausted (its own two count)", err)
	}
}

// TestRefusedRegistrationsInPartsDoNotLockAgentsOut: registrations in
// parts that the master refuses (a host name with a control character),
// more than the agent principal may have staged at once, leave the
// budget to the agents that share the certificate: a real registration in
// parts still goes through.
func TestRefusedRegistrationsInPartsDoNotLockAgentsOut(t *testing.T) {
	slow(t)
	c := newCluster(t, clusterOptions{})
	client := api.NewAgentAPIClient(c.dial("agent"))
	res := api.ResourcesToProto(mezzo.MustParseResources("cpus:1;mem:64"))
	data := make([]byte, 3<<20)
	register := func(host string, parts int) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stream, err := client.Register(ctx)
		if err != nil {
			return err
		}
		for i := 0; i <= parts; i++ {
			p := &api.AgentSubscribeRequest{Agent: &api.AgentInfo{Hostname: host, Resources: res}}
			if i > 0 {
				p = &api.AgentSubscribeRequest{Tasks: []*api.RunningTask{{FrameworkId: "f", Task: &api.TaskInfo{TaskId: "t", Data: data}}}}
			}
			if err := stream.Send(&api.AgentRegisterPart{Part: p, Last: i == parts}); err != nil {
				break // the master ended the call; Recv says why
			}
		}
		_, err = stream.Recv()
		return err
	}
	// Five of 60 MiB: more than the 256 MiB of the principal's budget.
	for i := range 5 {
		if err := register("bad\x1bhost", 20); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "hostname") {
			t.Fatalf("refused registration %d: %v, want InvalidArgument naming the host name", i+1, err)
		}
	}
	if err := register("good", 7); err != nil {
		t.Fatalf("a valid registration in parts after the refusals: %v", err)
	}
}
