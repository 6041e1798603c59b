package master

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// A new leader re-creates the losses earlier leaders declared, except those
// older than lostKept and those of frameworks it does not know. Driven by
// hand on a master that is not running.
func TestRestoreLostKeepsRecentLossesOfKnownFrameworks(t *testing.T) {
	m, err := New(Config{Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fw := m.placeholder(mezzo.FrameworkInfo{ID: "fw", Name: "fw"}, now, true)
	if fw == nil {
		t.Fatal("no placeholder framework")
	}
	m.restoreLost(map[mezzo.FrameworkID][]lostRecord{
		"fw": {
			{Task: "old", Agent: "a1", Reason: mezzo.ReasonAgentLost, At: now.Add(-lostKept - time.Minute)},
			{Task: "recent", Agent: "a1", Reason: mezzo.ReasonAgentLost, At: now.Add(-time.Hour)},
		},
		"gone": {{Task: "orphan", At: now}},
	}, now)
	if fw.tasks["old"] != nil {
		t.Error("a loss older than lostKept was re-created")
	}
	rt := fw.tasks["recent"]
	if rt == nil || rt.state != mezzo.TaskLost || !rt.ownEnd || !rt.unknown || rt.agent != "a1" || rt.latest.Reason != mezzo.ReasonAgentLost {
		t.Errorf("recent loss re-created as %+v; want TASK_LOST on a1, the master's own end, reason %s", rt, mezzo.ReasonAgentLost)
	}
	if m.frameworks["gone"] != nil {
		t.Error("a framework was made up for an orphan record")
	}
}
