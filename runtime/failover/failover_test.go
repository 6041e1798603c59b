package failover_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mezzo-cluster/mezzo/runtime/failover"
)

// TestCrashedLeaderIsReplaced runs the experiment on a small cluster: the
// standby must take over, get every agent, task and framework back, and
// allocate again, with each phase measured.
func TestCrashedLeaderIsReplaced(t *testing.T) {
	rows, err := failover.Run(context.Background(), failover.Config{}, []int{50}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	if r.Agents != 50 || r.Tasks != 100 {
		t.Fatalf("row %+v; want 50 agents, 100 tasks", r)
	}
	if r.DetectSec <= 0 || r.ReregisterSec < 0 || r.RecoverySec < r.DetectSec {
		t.Fatalf("phases inconsistent: %+v", r)
	}
	// From the crash: the lease goes, then the standby is elected, then
	// the agents are back and it allocates; all within the recovery.
	if !(0 < r.LeaseSec && r.LeaseSec <= r.DetectSec && r.DetectSec <= r.AgentsSec && r.AgentsSec <= r.AllocateSec &&
		r.AllocateSec <= r.RecoverySec && 0 < r.FrameworksSec && r.FrameworksSec <= r.RecoverySec && r.RecoverySec <= r.ConfirmedSec) {
		t.Fatalf("phases out of order: %+v", r)
	}
	var csv, js bytes.Buffer
	if err := failover.WriteCSV(&csv, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(csv.String(), "agents,tasks,recovery_s") || strings.Count(csv.String(), "\n") != 2 {
		t.Fatalf("csv:\n%s", csv.String())
	}
	if err := failover.WriteJSON(&js, rows); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Experiment string
		Rows       []map[string]float64
	}
	if err := json.Unmarshal(js.Bytes(), &s); err != nil || s.Experiment != "failover" || s.Rows[0]["agents"] != 50 || s.Rows[0]["recovery_s"] <= 0 {
		t.Fatalf("json %s (err %v)", js.String(), err)
	}
}
