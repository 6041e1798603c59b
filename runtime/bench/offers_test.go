package bench

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// smallOffers is a quick offer benchmark: 10 agents of two slots, 50 ms
// tasks, a 700 ms window (about 280 launches).
func smallOffers(delay time.Duration) OffersConfig {
	cfg := OffersConfig{
		Agents: 10, Frameworks: 2, Duration: 700 * time.Millisecond, Warmup: 300 * time.Millisecond,
		TaskDurations:  Dist{Kind: "fixed", Mean: 50 * time.Millisecond},
		AgentResources: mezzo.MustParseResources("cpus:2;mem:256"),
		TaskResources:  mezzo.MustParseResources("cpus:1;mem:128"),
		Timeout:        20 * time.Second,
	}
	if delay > 0 {
		// The test hook: the master's gRPC front holds every agent status
		// update for delay before the loop sees it, as a slow master would.
		cfg.Master = master.Config{ServerOptions: []grpc.ServerOption{grpc.UnaryInterceptor(
			func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if info.FullMethod == api.AgentAPI_Updates_FullMethodName || info.FullMethod == api.AgentAPI_Update_FullMethodName {
					time.Sleep(delay)
				}
				return h(ctx, req)
			})}}
	}
	return cfg
}

// TestOfferLatencyShowsInjectedDelay checks the harness measures what it
// says: a delay injected into the master on the path from a task's end to
// the next offer appears, in full, in every offer latency sample.
func TestOfferLatencyShowsInjectedDelay(t *testing.T) {
	ctx := context.Background()
	const delay = 60 * time.Millisecond
	base, err := RunOffers(ctx, smallOffers(0))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := RunOffers(ctx, smallOffers(delay))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("offer latency without delay %+v, with %v: %+v", base.OfferLatency, delay, slow.OfferLatency)
	for name, r := range map[string]OffersResult{"base": base, "delayed": slow} {
		if r.OfferLatency.Samples < 20 || r.LaunchLatency.Samples < 20 || r.TasksPerS <= 0 || r.OffersPerS <= 0 {
			t.Fatalf("%s: too few samples or no throughput: %+v", name, r)
		}
		if len(r.Errors) > 0 {
			t.Errorf("%s: errors %v", name, r.Errors)
		}
	}
	// Every sample spans the delay, so even the smallest is at least it.
	if got := slow.OfferLatency.P50; got < ms(delay) {
		t.Errorf("offer p50 with a %v delay is %.2fms; want at least the delay", delay, got)
	}
	if slow.OfferLatency.P50-base.OfferLatency.P50 < 0.8*ms(delay) {
		t.Errorf("offer p50 went from %.2fms to %.2fms with a %v delay; want it up by about the delay",
			base.OfferLatency.P50, slow.OfferLatency.P50, delay)
	}
	// The delay is on the update path, which every launch also crosses
	// (RUNNING reaches the scheduler through it).
	if slow.LaunchLatency.P50 < ms(delay) {
		t.Errorf("launch p50 with a %v delay on updates is %.2fms; want at least the delay", delay, slow.LaunchLatency.P50)
	}
}

// TestRunOffers checks the figures are consistent with the load.
func TestRunOffers(t *testing.T) {
	r, err := RunOffers(context.Background(), smallOffers(0))
	if err != nil {
		t.Fatal(err)
	}
	if r.Slots != 20 || r.OfferedLoad != 400 {
		t.Errorf("slots %d, offered load %.0f; want 20 and 400/s", r.Slots, r.OfferedLoad)
	}
	// 20 slots of 50 ms tasks: at most 400 launches/s, whatever the speed.
	if r.TasksPerS > 1.1*r.OfferedLoad || r.TasksPerS < 0.2*r.OfferedLoad {
		t.Errorf("tasks/s %.0f; want near the offered load %.0f and never far above", r.TasksPerS, r.OfferedLoad)
	}
	if r.Cycles == 0 || r.CycleMeanMS <= 0 || r.CycleMaxMS < r.CycleMeanMS {
		t.Errorf("allocation cycles %d, mean %.3fms, max %.3fms", r.Cycles, r.CycleMeanMS, r.CycleMaxMS)
	}
	if !(r.MasterBusy > 0 && r.MasterBusy < 1) || r.MasterMSPerTask <= 0 || r.CPUPerTaskMS < r.MasterMSPerTask {
		t.Errorf("master busy %.3f, %.4f ms/task; process %.4f ms/task", r.MasterBusy, r.MasterMSPerTask, r.CPUPerTaskMS)
	}
	var b strings.Builder
	if err := r.WriteBenchFormat(&b); err != nil {
		t.Fatal(err)
	}
	line := b.String()
	if !strings.HasPrefix(line, "BenchmarkOffers/agents=10/frameworks=2-") || !strings.Contains(line, " offer-p99-ms") || strings.Count(line, "\n") != 1 {
		t.Errorf("benchmark line %q", line)
	}
}

func TestParseDist(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Dist
		err  string
	}{
		{"fixed:2s", Dist{Kind: "fixed", Mean: 2 * time.Second}, ""},
		{"normal:30s,10s", Dist{Kind: "normal", Mean: 30 * time.Second, Stddev: 10 * time.Second}, ""},
		{"exp:1s", Dist{Kind: "exp", Mean: time.Second}, ""},
		{"normal:30s", Dist{}, "takes 2"},
		{"pareto:1s", Dist{}, "unknown kind"},
		{"fixed:-1s", Dist{}, "non-negative"},
		{"2s", Dist{}, "want fixed:D"},
	} {
		got, err := ParseDist(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseDist(%q) error %v; want one mentioning %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDist(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back, err := ParseDist(got.String()); err != nil || back != got {
			t.Errorf("%q does not read back: %+v, %v", got.String(), back, err)
		}
	}
	// Samples follow the distribution: exponential mean and no negative
	// normal sample.
	rng := rand.New(rand.NewPCG(1, 2))
	var sum time.Duration
	for range 20000 {
		sum += Dist{Kind: "exp", Mean: time.Second}.Sample(rng)
		if d := (Dist{Kind: "normal", Mean: 10 * time.Millisecond, Stddev: 20 * time.Millisecond}).Sample(rng); d < 0 {
			t.Fatalf("normal sample %v below 0", d)
		}
	}
	if mean := sum / 20000; mean < 950*time.Millisecond || mean > 1050*time.Millisecond {
		t.Errorf("exp:1s sample mean %v", mean)
	}
}
