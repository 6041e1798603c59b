package attack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// startAgentLike starts an agent with victim's flags but its own work dir
// and cgroup parent, and does not wait for it to register.
func (c *cluster) startAgentLike(victim *agentProc, name, workDir string) *proc {
	c.t.Helper()
	args := slices.Clone(victim.args)
	for i := range args {
		switch args[i] {
		case "--work-dir":
			args[i+1] = workDir
		case "--cgroup-parent":
			args[i+1] = fmt.Sprintf("mezzo-attack-%d-%d", os.Getpid(), cgroupSeq.Add(1))
		}
	}
	return start(c.t, name, args...)
}

// TestAgentImpostorRefused: a second agent with the shared agent
// certificate and a live agent's ID (its work dir's agent-id copied, not
// its secret) is refused; the victim stays registered and its running
// task keeps running (it is killed at the end, by its framework, through
// the victim: TASK_KILLED, never TASK_LOST).
func TestAgentImpostorRefused(t *testing.T) {
	slow(t)
	c := newCluster(t, clusterOptions{})
	victim := c.agents[0]
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "victim", Role: "a", User: "nobody"})
	a.run("long", "cpus:0.1;mem:32", "sleep 600")
	a.waitState("long", 30*time.Second, mezzo.TaskRunning)

	work := filepath.Join(c.dir, "impostor")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	id, err := os.ReadFile(filepath.Join(victim.workDir, "agent-id"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "agent-id"), id, 0o644); err != nil {
		t.Fatal(err)
	}
	imp := c.startAgentLike(victim, "impostor", work)
	refusedRE := regexp.MustCompile(`msg="the master refused this agent".*PermissionDenied`)
	// Two refusals: the impostor keeps trying, and each try is refused.
	eventually(t, "the impostor refused twice", 30*time.Second, func() bool {
		return len(refusedRE.FindAllString(imp.Output(), -1)) >= 2
	})
	if strings.Contains(imp.Output(), `msg="registered with master"`) {
		t.Fatalf("the impostor registered:\n%s", imp.Output())
	}
	masterRE := regexp.MustCompile(`msg="not authorized" .*principal=agent action="register agent" object=` + regexp.QuoteMeta(victim.id))
	if !masterRE.MatchString(c.master.Output()) {
		t.Errorf("the master did not log the refusal with principal and agent ID")
	}
	// The victim's session is the master's current one: a kill reaches
	// its task through it.
	if err := call(a, a.client.Kill, &api.KillRequest{Header: a.header(), TaskId: "long"}); err != nil {
		t.Fatal(err)
	}
	a.waitState("long", 30*time.Second, mezzo.TaskKilled)
	if states := a.statesOf("long"); slices.Contains(states, mezzo.TaskLost) {
		t.Fatalf("the victim's task went through %v", states)
	}
	if n := strings.Count(victim.Output(), `msg="registered with master"`); n != 1 {
		t.Errorf("the victim registered %d times, want once (no eviction)", n)
	}
}

// TestAgentGarbageIDsRefused: agent IDs the master never hands out are
// refused with the rule, before anything of the registration is applied.
func TestAgentGarbageIDsRefused(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	client := api.NewAgentAPIClient(c.dial("agent"))
	var b [2000]byte
	_, _ = rand.Read(b[:])
	for id, want := range map[string]string{
		"garbage-id/../x":        "is not of the master's format",
		hex.EncodeToString(b[:]): "agent ID is 4000 bytes; the limit is 64",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stream, err := client.Subscribe(ctx, &api.AgentSubscribeRequest{Agent: &api.AgentInfo{AgentId: id, Hostname: "x",
			Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:1;mem:64"))}})
		if err == nil {
			_, err = stream.Recv()
		}
		cancel()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), want) {
			t.Errorf("agent ID %.40q: %v, want InvalidArgument with %q", id, err, want)
		}
	}
	code, body := c.httpGet(admin, "/agents")
	if code != 200 || strings.Contains(body, "garbage") || strings.Count(body, `"hostname"`) > 1 {
		t.Errorf("/agents after the refusals: %d %.300s", code, body)
	}
}
