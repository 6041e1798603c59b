package master_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// floodOfferBound is the promise of this test: while another principal
// floods the master far past its rate limit, a framework's next offer
// comes within this long after its task ends (the allocation interval of
// the test master is 100 ms; freed resources are offered at once).
const floodOfferBound = 500 * time.Millisecond

// TestFloodDoesNotStarveOthers: principal "other" sends thousands of calls
// (limit 20/s, burst 20) while "analytics" runs tasks one after another.
// The flood gets ResourceExhausted, analytics' offers stay within
// floodOfferBound of its tasks ending, and every task and resource is
// accounted for.
func TestFloodDoesNotStarveOthers(t *testing.T) {
	m, addr := startSecured(t, security.NewLimiter(20, 20, nil))
	ag := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:2;mem:256", DialOptions: []grpc.DialOption{as("tok-agent-secret-000003")}})
	s := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "a", Role: "analytics", User: "nobody"}, as("tok-analytics-secret-0001"))
	offers := s.TakeOffers(wait)
	// The flooder wants no offers, only to keep the master busy.
	flooder := mastertest.SubscribeWith(t, addr, mezzo.FrameworkInfo{Name: "flood", User: "nobody"}, as("tok-other-secret-000002"))
	if _, err := flooder.Client.Suppress(context.Background(), &api.SuppressRequest{Header: flooder.Header()}); err != nil {
		t.Fatal(err)
	}

	floodStart := time.Now() // before the first flood call, so the limiter's window is inside ours
	ctx, stop := context.WithCancel(context.Background())
	var sent, passed, refused, wrong atomic.Int64
	var wg sync.WaitGroup
	client := schedulerClient(t, addr, "tok-other-secret-000002")
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, err := client.Reconcile(ctx, &api.ReconcileRequest{Header: flooder.Header()})
				sent.Add(1)
				switch status.Code(err) {
				case codes.ResourceExhausted:
					refused.Add(1)
				case codes.OK:
					passed.Add(1)
				case codes.Canceled: // stop() cut it short
				default:
					wrong.Add(1)
				}
			}
		}()
	}

	time.Sleep(300 * time.Millisecond) // the flood is in full swing before the tasks start

	const tasks = 20
	var latencies []time.Duration
	for i := 0; i < tasks; i++ {
		id := mezzo.TaskID(fmt.Sprintf("t%d", i))
		var ids []mezzo.OfferID
		for _, o := range offers {
			ids = append(ids, o.ID)
		}
		if err := s.Accept(ids[:1], []mezzo.TaskInfo{{ID: id, Resources: mezzo.MustParseResources("cpus:2;mem:256")}}, mezzo.Filters{}); err != nil {
			t.Fatalf("accept under flood: %v", err)
		}
		ag.WaitFor("launch of "+string(id), wait, func(s mastertest.AgentSeen) bool { return len(s.Launched) == i+1 })
		ended := time.Now()
		ag.Report(s.ID, id, mezzo.TaskFinished, "")
		offers = s.TakeOffers(wait)
		latencies = append(latencies, time.Since(ended))
		if st := s.NextUpdate(id, wait); st.State != mezzo.TaskFinished {
			t.Fatalf("task %s: %v", id, st.State)
		}
	}
	stop()
	wg.Wait()
	// What the limiter may let through over the flood: the burst plus the
	// rate times the duration.
	// Rounding: one more.
	allowed := int64(20+20*time.Since(floodStart).Seconds()) + 1

	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	worst := latencies[len(latencies)-1]
	t.Logf("flood: %d calls, %d refused; offer latency after a task ends: median %v, worst %v (bound %v)",
		sent.Load(), refused.Load(), latencies[len(latencies)/2], worst, floodOfferBound)
	if worst > floodOfferBound {
		t.Errorf("worst offer latency %v under flood, want <= %v", worst, floodOfferBound)
	}
	if wrong.Load() != 0 {
		t.Errorf("%d flood calls failed with something other than ResourceExhausted", wrong.Load())
	}
	if sent.Load() < 10*allowed {
		t.Errorf("flood of %d calls is not 10× the %d the limit allows", sent.Load(), allowed)
	}
	if got := passed.Load(); got > allowed {
		t.Errorf("%d flood calls went through, the limit allows %d", got, allowed)
	}
	snap := waitSettled(t, m, "cpus:2;mem:256")
	for _, f := range snap.Frameworks {
		if f.Name == "a" && (f.Stats.TasksLaunched != tasks || f.Stats.TasksByState["TASK_FINISHED"] != tasks) {
			t.Errorf("framework a launched %d tasks, finished %v, want %d each", f.Stats.TasksLaunched, f.Stats.TasksByState, tasks)
		}
	}
}
