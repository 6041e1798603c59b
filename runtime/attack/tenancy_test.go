package attack

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Probes of one tenant reaching another's frameworks: by their IDs after
// a master restart, through what refusals give away, through /metrics,
// and by flooding the master with subscriptions.

// subscribeOwn subscribes info, retrying while the master answers
// Unavailable (just restarted, it may not know the framework yet).
func subscribeOwn(t *testing.T, conn *grpc.ClientConn, info mezzo.FrameworkInfo, d time.Duration) *framework {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, err := subscribe(t, conn, info)
		if err == nil {
			return f
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			t.Fatalf("subscribe %+v: %v", info, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stealAttempts are tenant-b's tries at tenant-a's framework fw, which
// runs task "long" on agent ag: every one must be refused.
func stealAttempts(t *testing.T, c *cluster, fw, ag string) {
	t.Helper()
	b := c.dial(tenantB)
	for _, conn := range []struct {
		how  string
		conn *grpc.ClientConn
	}{{"by certificate", b}, {"by bearer token", c.dialToken(tenantB)}} {
		for _, role := range []string{"b", "a"} {
			if f, err := subscribe(t, conn.conn, mezzo.FrameworkInfo{ID: mezzo.FrameworkID(fw), Name: "intruder", Role: role, User: "nobody"}); err == nil {
				f.cancel()
				t.Errorf("tenant-b (%s) subscribed tenant-a's framework %s in role %s", conn.how, fw, role)
			} else if status.Code(err) != codes.PermissionDenied {
				t.Errorf("tenant-b (%s) subscribing tenant-a's framework in role %s: %v, want PermissionDenied", conn.how, role, err)
			}
		}
	}
	// tenant-b naming tenant-a as its principal does not help either.
	if _, err := subscribe(t, b, mezzo.FrameworkInfo{ID: mezzo.FrameworkID(fw), Name: "intruder", Role: "b", Principal: tenantA}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("tenant-b subscribing as principal tenant-a: %v, want PermissionDenied", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := api.NewSchedulerAPIClient(b).Kill(ctx, &api.KillRequest{Header: &api.CallHeader{FrameworkId: fw, StreamId: "guessed"}, TaskId: "long"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("tenant-b's Kill of tenant-a's task: %v, want PermissionDenied", err)
	}
	if code, body := c.httpDo("POST", tenantB, "/api/v1/tasks/long/kill?framework="+fw, ""); code != 403 {
		t.Errorf("tenant-b's operator kill of tenant-a's task: %d %s, want 403", code, body)
	}
	if code, body := c.httpGet(tenantB, "/sandbox/"+ag+"/"+fw+"/command-long/task-long.stdout"); code != 403 || strings.Contains(body, "secret-of-a") {
		t.Errorf("tenant-b reading tenant-a's sandbox: %d %q, want 403", code, body)
	}
}

// TestFrameworkTakeoverAfterMasterRestart: a master restarted without
// etcd rebuilds tenant-a's framework from the agent that runs its task,
// with tenant-a as its owner, whether the agent kept the framework in
// memory (only the master restarted) or read it back from its checkpoint
// (the agent restarted too). tenant-b, which knows the framework's ID,
// cannot subscribe it in any role, kill its task, or read its sandbox,
// not even in the instant after the restart; tenant-a gets it back with
// its task still running.
func TestFrameworkTakeoverAfterMasterRestart(t *testing.T) {
	needRoot(t)
	c := newCluster(t, clusterOptions{})
	ag := c.agents[0].id
	info := mezzo.FrameworkInfo{Name: "victim", Role: "a", User: "nobody", FailoverTimeout: 10 * time.Minute}
	a := mustSubscribe(t, c.dial(tenantA), info)
	info.ID = mezzo.FrameworkID(a.id)
	a.run("long", "cpus:0.1;mem:32", "echo secret-of-a; exec sleep 600")
	a.waitState("long", 30*time.Second, mezzo.TaskRunning)

	recovered := regexp.MustCompile(`msg="framework recovered; waiting for its scheduler".* framework=` + regexp.QuoteMeta(a.id) + ` .*principal=(\S+)`)
	for _, withAgent := range []bool{false, true} {
		a.cancel()
		if withAgent {
			c.agents[0].Kill9(t)
		}
		c.restartMaster()
		// The race: tenant-b tries before the agent is back.
		if f, err := subscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{ID: info.ID, Name: "intruder", Role: "b", User: "nobody"}); err == nil {
			f.cancel()
			t.Fatalf("right after the restart, tenant-b subscribed tenant-a's framework %s", a.id)
		}
		if withAgent {
			c.agents[0].proc = start(t, "agent-0-again", c.agents[0].args...)
			waitLog(t, c.agents[0].proc, "the agent to re-register", registeredRE, 30*time.Second)
		}
		if p := waitLog(t, c.master, "tenant-a's framework rebuilt from its agent", recovered, 30*time.Second); p != tenantA {
			t.Fatalf("the restarted master rebuilt tenant-a's framework for principal %q", p)
		}
		stealAttempts(t, c, a.id, ag)

		a = subscribeOwn(t, c.dial(tenantA), info, 30*time.Second)
		if err := call(a, a.client.Reconcile, &api.ReconcileRequest{Header: a.header()}); err != nil {
			t.Fatal(err)
		}
		if st := a.waitState("long", 20*time.Second, mezzo.TaskRunning, mezzo.TaskLost, mezzo.TaskKilled, mezzo.TaskFailed); st.State != mezzo.TaskRunning {
			t.Fatalf("after the restart (agent restarted too: %v) tenant-a's task is %s: %s", withAgent, st.State, st.Message)
		}
	}
	if code, body := c.httpGet(tenantA, "/sandbox/"+ag+"/"+a.id+"/command-long/task-long.stdout"); code != 200 || !strings.Contains(body, "secret-of-a") {
		t.Errorf("tenant-a reading its own sandbox after the restarts: %d %q", code, body)
	}
}

// TestRefusalsGiveNothingAway: tenant-b asking to kill tenant-a's live
// task, its finished task, or a task that never was, over HTTP or gRPC,
// or to read the sandbox of tenant-a's framework or of one that never
// was, gets the same answer every time: it learns neither whether the
// task exists, nor whether it has ended, nor whose it is.
func TestRefusalsGiveNothingAway(t *testing.T) {
	slow(t)
	needRoot(t)
	c := newCluster(t, clusterOptions{})
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "victim", Role: "a", User: "nobody"})
	a.run("live", "cpus:0.1;mem:32", "exec sleep 600")
	a.run("done", "cpus:0.1;mem:32", "true")
	a.waitState("live", 30*time.Second, mezzo.TaskRunning)
	a.waitState("done", 30*time.Second, mezzo.TaskFinished)

	type answer struct {
		code int
		body string
	}
	httpKill := func(task, query string) answer {
		code, body := c.httpDo("POST", tenantB, "/api/v1/tasks/"+task+"/kill"+query, "")
		return answer{code, strings.ReplaceAll(body, task, "TASK")}
	}
	for _, query := range []string{"", "?framework=" + a.id} {
		live := httpKill("live", query)
		if live.code != 403 || strings.Contains(live.body, tenantA) {
			t.Errorf("tenant-b killing tenant-a's live task%s: %d %s; want 403 not naming the owner", query, live.code, live.body)
		}
		for _, task := range []string{"done", "made-up-task"} {
			if got := httpKill(task, query); got != live {
				t.Errorf("tenant-b killing task %q%s: %d %s; a live task gets %d %s", task, query, got.code, got.body, live.code, live.body)
			}
		}
	}
	if got := httpKill("live", "?framework=made-up-framework"); got.code != 403 {
		t.Errorf("tenant-b killing in a made-up framework: %d %s; want 403", got.code, got.body)
	}

	b := api.NewSchedulerAPIClient(c.dial(tenantB))
	grpcKill := func(fw, task string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := b.Kill(ctx, &api.KillRequest{Header: &api.CallHeader{FrameworkId: fw, StreamId: a.stream}, TaskId: task})
		st := status.Convert(err)
		return st.Code().String() + " " + strings.ReplaceAll(st.Message(), fw, "FRAMEWORK")
	}
	want := grpcKill(a.id, "live")
	if !strings.HasPrefix(want, "PermissionDenied") || strings.Contains(want, tenantA) {
		t.Errorf("tenant-b's Kill of tenant-a's live task: %s; want PermissionDenied not naming the owner", want)
	}
	for _, k := range [][2]string{{a.id, "done"}, {a.id, "made-up-task"}, {"made-up-framework", "live"}} {
		if got := grpcKill(k[0], k[1]); got != want {
			t.Errorf("tenant-b's Kill of %s in %s: %s; a live task gets %s", k[1], k[0], got, want)
		}
	}

	sandbox := func(fw string) answer {
		code, body := c.httpGet(tenantB, "/sandbox/"+c.agents[0].id+"/"+fw+"/command-live/task-live.stdout")
		return answer{code, strings.ReplaceAll(body, fw, "FRAMEWORK")}
	}
	if real, none := sandbox(a.id), sandbox("made-up-framework"); real.code != 403 || real != none {
		t.Errorf("tenant-b reading sandboxes: tenant-a's framework %d %s, a made-up one %d %s; want the same 403", real.code, real.body, none.code, none.body)
	}
	if got := a.statesOf("live"); got[len(got)-1] != mezzo.TaskRunning {
		t.Errorf("tenant-a's live task after the attempts: %v", got)
	}
}

// TestMetricsNameNoTenant: the master's /metrics, open to anyone who
// reaches its port, counts frameworks and tasks but names no framework,
// role or principal.
func TestMetricsNameNoTenant(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "victim-name", Role: "a", User: "nobody"})
	b := mustSubscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{Name: "other-name", Role: "b", User: "nobody"})
	var body string
	eventually(t, "/metrics to count both frameworks", 10*time.Second, func() bool {
		var code int
		code, body = c.httpGet("", "/metrics")
		return code == 200 && strings.Contains(body, `mezzo_master_frameworks{state="active"} 2`)
	})
	for _, secret := range []string{a.id, b.id, "victim-name", "other-name", tenantA, tenantB, `role="a"`, `role="b"`, `framework="`} {
		if strings.Contains(body, secret) {
			t.Errorf("unauthenticated /metrics contains %q", secret)
		}
	}
}

// latencies measures n calls of f spaced every, and returns them sorted.
func latencies(n int, every time.Duration, f func() error) ([]time.Duration, int) {
	out := make([]time.Duration, 0, n)
	failed := 0
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := f(); err != nil {
			failed++
		}
		out = append(out, time.Since(start))
		time.Sleep(every)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, failed
}

func quantile(d []time.Duration, q float64) time.Duration {
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// TestSubscribeFloodThrottledAndCapped: tenant-b floods the master with
// subscriptions (each a new framework, dropped at once, as the issue's
// 20,000 in 4 s were) and asks for a failover timeout of a year. The flood
// is rate-limited and capped (ResourceExhausted), the year refused
// (InvalidArgument); tenant-a subscribes, launches and is answered
// throughout. The probe logs tenant-a's call latency before and during
// the flood (not asserted: the machine is shared).
func TestSubscribeFloodThrottledAndCapped(t *testing.T) {
	slow(t)
	needRoot(t)
	c := newCluster(t, clusterOptions{})
	if f, err := subscribe(t, c.dial(tenantB), mezzo.FrameworkInfo{Name: "forever", Role: "b", FailoverTimeout: 365 * 24 * time.Hour}); err == nil {
		f.cancel()
		t.Errorf("tenant-b's failover timeout of a year was accepted")
	} else if status.Code(err) != codes.InvalidArgument {
		t.Errorf("tenant-b asking for a failover timeout of a year: %v, want InvalidArgument", err)
	}
	a := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "steady", Role: "a", User: "nobody"})
	// steady only measures; the agent's offers go to the newcomer below.
	held := a.offer()
	if err := call(a, a.client.Suppress, &api.SuppressRequest{Header: a.header()}); err != nil {
		t.Fatal(err)
	}
	if err := call(a, a.client.Decline, &api.DeclineRequest{Header: a.header(), OfferIds: []string{held.OfferId}, Filters: api.FiltersToProto(mezzo.Filters{Refuse: time.Hour})}); err != nil {
		t.Fatal(err)
	}
	reconcile := func() error { return call(a, a.client.Reconcile, &api.ReconcileRequest{Header: a.header()}) }
	before, _ := latencies(150, 20*time.Millisecond, reconcile)

	var accepted, throttled, capped, other atomic.Int64
	var firstOther atomic.Value
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		conn := c.dial(tenantB)
		client := api.NewSchedulerAPIClient(conn)
		for j := 0; j < 16; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					stream, err := client.Subscribe(sctx, &api.SubscribeRequest{Framework: api.FrameworkToProto(mezzo.FrameworkInfo{Name: "flood", Role: "b", FailoverTimeout: time.Hour})})
					if err == nil {
						_, err = stream.Recv()
					}
					cancel()
					switch {
					case err == nil:
						accepted.Add(1)
					case status.Code(err) == codes.ResourceExhausted && strings.Contains(err.Error(), "subscriptions/s"):
						throttled.Add(1)
					case status.Code(err) == codes.ResourceExhausted && strings.Contains(err.Error(), "frameworks registered"):
						capped.Add(1)
					case ctx.Err() == nil && !errors.Is(err, context.Canceled):
						other.Add(1)
						firstOther.CompareAndSwap(nil, err.Error())
					}
				}
			}()
		}
	}
	time.Sleep(500 * time.Millisecond) // the flood is at full rate
	during, failed := latencies(150, 20*time.Millisecond, reconcile)
	// tenant-a can still register and launch while the flood goes on.
	a2 := mustSubscribe(t, c.dial(tenantA), mezzo.FrameworkInfo{Name: "newcomer", Role: "a", User: "nobody"})
	a2.run("during-flood", "cpus:0.1;mem:32", "true")
	a2.waitState("during-flood", 30*time.Second, mezzo.TaskFinished)
	stop()
	wg.Wait()

	t.Logf("tenant-b's flood: %d subscriptions accepted, %d throttled, %d over the cap, %d other errors (%v)",
		accepted.Load(), throttled.Load(), capped.Load(), other.Load(), firstOther.Load())
	t.Logf("tenant-a's Reconcile latency: before the flood p50 %v p99 %v; during it p50 %v p99 %v (%d of %d failed)",
		quantile(before, 0.5), quantile(before, 0.99), quantile(during, 0.5), quantile(during, 0.99), failed, len(during))
	if failed > 0 {
		t.Errorf("%d of tenant-a's calls failed during the flood", failed)
	}
	if n := accepted.Load(); n > 100 {
		t.Errorf("tenant-b registered %d frameworks; the cap is 100", n)
	}
	if throttled.Load() == 0 {
		t.Error("tenant-b's flood was never throttled")
	}
	code, body := c.httpGet(admin, "/frameworks")
	if code != 200 {
		t.Fatalf("/frameworks: %d %s", code, body)
	}
	if n := strings.Count(body, `"name":"flood"`); n > 100 {
		t.Errorf("the master holds %d frameworks of tenant-b; the cap is 100", n)
	}
}

// TestTenantLimitFlagsRefused: a master given a limit that makes no sense
// refuses to start and names the flag, rather than running unlimited.
func TestTenantLimitFlagsRefused(t *testing.T) {
	for _, c := range [][]string{
		{"--max-frameworks-per-principal", "-1"},
		{"--max-failover-timeout", "0s"},
		{"--subscribe-rate-limit", "NaN"},
		{"--subscribe-rate-burst", "0"},
		{"--max-completed-frameworks", "-1"},
	} {
		out, code := runMezzo(t, 20*time.Second, append([]string{"master", "--listen", "127.0.0.1:0"}, c...)...)
		if code == 0 || !strings.Contains(out, c[0]) {
			t.Errorf("mezzo master %v: exit %d, %q; want a refusal naming %s", c, code, out, c[0])
		}
	}
}
