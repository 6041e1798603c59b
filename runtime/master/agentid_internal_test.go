package master

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// TestAgentRecordWrittenOnce: the registry's record of an agent is
// written once when the agent is new, once when its secret is bound to an
// ID the registry lists without one, once when it is back after its
// removal, and not at all when it re-registers with the secret it has.
// It counts the writes the loop queues (the registry's writer, which
// merges writes of one key that wait together, is not running).
func TestAgentRecordWrittenOnce(t *testing.T) {
	m, err := New(Config{Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		HA: HAConfig{Etcd: []string{"127.0.0.1:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	m.ha.reg = &registry{prefix: "/mezzo", log: m.log, q: newOutbox[regOp]()}
	m.ha.registered = map[string]struct{}{"m0-A0001": {}} // an old record, no secret
	puts := func() map[string]int {
		n := map[string]int{}
		m.ha.reg.q.mu.Lock()
		defer m.ha.reg.q.mu.Unlock()
		for _, op := range m.ha.reg.q.q {
			if !op.del {
				n[op.key]++
			}
		}
		m.ha.reg.q.q = nil
		return n
	}
	register := func(id mezzo.AgentID, secret string) *agentRec {
		t.Helper()
		req := &api.AgentSubscribeRequest{Agent: &api.AgentInfo{AgentId: string(id), Hostname: "h",
			Resources: api.ResourcesToProto(mezzo.MustParseResources("cpus:1;mem:64"))}, AgentSecret: secret}
		key, issue, err := m.agentCredential(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		ag, err := m.subscribeAgent(req, newOutbox[*api.AgentEvent](), key, issue)
		if err != nil {
			t.Fatal(err)
		}
		return ag
	}
	secret := newSecret()
	check := func(what string, id mezzo.AgentID, want int) {
		t.Helper()
		if got := puts(); got[agentKey("/mezzo", id)] != want || len(got) > want {
			t.Errorf("%s: registry writes %v, want %d of %s's record", what, got, want, id)
		}
	}
	ag := register("", "")
	check("a new agent", ag.id, 1)
	register("m0-A0001", secret)
	check("a secret bound to a listed ID", "m0-A0001", 1)
	register("m0-A0001", secret)
	check("the same agent again", "m0-A0001", 0)
	m.removeAgent(m.agents["m0-A0001"], "test")
	puts()
	register("m0-A0001", secret)
	check("back after its removal", "m0-A0001", 1)
}
