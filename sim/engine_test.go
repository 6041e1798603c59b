package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestEngineStartsAtEpoch(t *testing.T) {
	e := NewEngine()
	if !e.Now().Equal(Epoch) || e.Elapsed() != 0 || e.Pending() != 0 {
		t.Fatalf("fresh engine: now %v elapsed %v pending %d", e.Now(), e.Elapsed(), e.Pending())
	}
	if e.Step() {
		t.Fatal("Step on an empty engine reported an event")
	}
	if _, ok := e.Next(); ok {
		t.Fatal("Next on an empty engine reported an event")
	}
}

func TestEngineOrdersByTimeThenSequence(t *testing.T) {
	e := NewEngine()
	var got []string
	rec := func(s string) func() { return func() { got = append(got, s+"@"+e.Elapsed().String()) } }
	e.After(3*time.Second, rec("c"))
	e.After(1*time.Second, rec("a1"))
	e.At(Epoch.Add(2*time.Second), rec("b"))
	e.After(1*time.Second, rec("a2"))
	e.After(0, rec("zero"))
	e.After(1*time.Second, rec("a3"))
	e.Run()
	want := []string{"zero@0s", "a1@1s", "a2@1s", "a3@1s", "b@2s", "c@3s"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if e.Processed() != 6 {
		t.Fatalf("processed %d, want 6", e.Processed())
	}
}

func TestEngineEventsScheduledNowRunAfterQueuedOnes(t *testing.T) {
	e := NewEngine()
	var got []int
	e.After(time.Second, func() {
		got = append(got, 1)
		e.After(0, func() { got = append(got, 3) })
		// A time in the past is clamped to now, never run before now.
		e.At(Epoch, func() { got = append(got, 4) })
	})
	e.After(time.Second, func() { got = append(got, 2) })
	e.Run()
	if !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("order %v, want [1 2 3 4]", got)
	}
	if e.Elapsed() != time.Second {
		t.Fatalf("clock %v, want 1s", e.Elapsed())
	}
}

func TestEngineCancel(t *testing.T) {
	e := NewEngine()
	ran := map[string]bool{}
	a := e.After(time.Second, func() { ran["a"] = true })
	b := e.After(2*time.Second, func() { ran["b"] = true })
	var c Timer
	c = e.After(3*time.Second, func() {
		ran["c"] = true
		if c.Pending() || c.Cancel() {
			t.Error("a running event's own timer is still pending")
		}
	})
	if got := b.When(); !got.Equal(Epoch.Add(2 * time.Second)) {
		t.Fatalf("When = %v", got)
	}
	if !b.Cancel() {
		t.Fatal("Cancel of a pending event returned false")
	}
	if b.Cancel() || b.Pending() || !b.When().IsZero() {
		t.Fatal("second Cancel returned true or timer still pending")
	}
	if e.Pending() != 2 {
		t.Fatalf("pending %d after cancel, want 2", e.Pending())
	}
	e.Run()
	if !ran["a"] || ran["b"] || !ran["c"] {
		t.Fatalf("ran %v, want a and c only", ran)
	}
	if a.Cancel() {
		t.Fatal("Cancel after the event ran returned true")
	}
	if (Timer{}).Cancel() || (Timer{}).Pending() {
		t.Fatal("zero Timer claims to be pending")
	}
	if e.Processed() != 2 {
		t.Fatalf("processed %d, want 2", e.Processed())
	}
}

// A stale Timer must not cancel the unrelated event that reuses its slot.
func TestEngineCancelDoesNotHitReusedSlot(t *testing.T) {
	e := NewEngine()
	old := e.After(time.Second, func() {})
	e.Run()
	ran := false
	e.After(time.Second, func() { ran = true })
	if old.Cancel() {
		t.Fatal("stale timer cancelled something")
	}
	e.Run()
	if !ran {
		t.Fatal("event in a reused slot did not run")
	}
}

// Cancelling most events triggers compaction; the survivors must still run
// in order.
func TestEngineMassCancelKeepsOrder(t *testing.T) {
	e := NewEngine()
	r := rand.New(rand.NewPCG(7, 7))
	var timers []Timer
	var got []time.Duration
	for range 10000 {
		d := time.Duration(r.Int64N(int64(time.Hour)))
		timers = append(timers, e.After(d, func() { got = append(got, e.Elapsed()) }))
	}
	kept := 0
	for i, tm := range timers {
		if i%10 != 0 {
			tm.Cancel()
		} else {
			kept++
		}
	}
	if e.Pending() != kept {
		t.Fatalf("pending %d, want %d", e.Pending(), kept)
	}
	if len(e.heap) >= 2*kept+1100 {
		t.Fatalf("heap holds %d records for %d live events: not compacted", len(e.heap), kept)
	}
	e.Run()
	if len(got) != kept || !slices.IsSorted(got) {
		t.Fatalf("ran %d events (want %d), sorted=%v", len(got), kept, slices.IsSorted(got))
	}
}

func TestEngineRunUntil(t *testing.T) {
	e := NewEngine()
	var got []time.Duration
	for _, s := range []int{1, 2, 3, 5} {
		e.After(time.Duration(s)*time.Second, func() { got = append(got, e.Elapsed()) })
	}
	e.RunUntil(Epoch.Add(3 * time.Second))
	if len(got) != 3 || e.Elapsed() != 3*time.Second {
		t.Fatalf("after RunUntil(3s): ran %v, clock %v", got, e.Elapsed())
	}
	e.RunFor(time.Second)
	if len(got) != 3 || e.Elapsed() != 4*time.Second {
		t.Fatalf("after RunFor(1s): ran %v, clock %v", got, e.Elapsed())
	}
	// The clock never goes back.
	e.RunUntil(Epoch)
	if e.Elapsed() != 4*time.Second {
		t.Fatalf("RunUntil in the past moved the clock to %v", e.Elapsed())
	}
	if next, ok := e.Next(); !ok || !next.Equal(Epoch.Add(5*time.Second)) {
		t.Fatalf("Next = %v, %v", next, ok)
	}
	e.RunUntil(Epoch.Add(time.Hour))
	if len(got) != 4 || e.Elapsed() != time.Hour {
		t.Fatalf("after RunUntil(1h): ran %v, clock %v", got, e.Elapsed())
	}
}

func TestEngineStop(t *testing.T) {
	e := NewEngine()
	n := 0
	for i := 1; i <= 5; i++ {
		e.After(time.Duration(i)*time.Second, func() {
			n++
			if n == 2 {
				e.Stop()
			}
		})
	}
	e.RunUntil(Epoch.Add(time.Minute))
	if n != 2 || e.Elapsed() != 2*time.Second {
		t.Fatalf("stopped after %d events at %v, want 2 at 2s", n, e.Elapsed())
	}
	e.Run()
	if n != 5 {
		t.Fatalf("Run after Stop ran to %d, want 5", n)
	}
	e.Stop() // outside a run: no effect on the next one
	e.After(time.Second, func() { n++ })
	e.Run()
	if n != 6 {
		t.Fatal("Stop outside a run leaked into the next run")
	}
}

func TestEngineRejectsReentrantRun(t *testing.T) {
	e := NewEngine()
	e.After(0, func() { e.Run() })
	defer func() {
		if recover() == nil {
			t.Fatal("Run inside an event did not panic")
		}
	}()
	e.Run()
}

func TestEngineAfterSaturates(t *testing.T) {
	e := NewEngine()
	e.After(time.Second, func() {})
	e.Run()
	tm := e.After(time.Duration(1<<63-1), func() {})
	if !tm.When().After(e.Now()) {
		t.Fatalf("huge delay wrapped around to %v", tm.When())
	}
}

// trace runs a random workload that schedules and cancels from inside
// events, and records what ran when.
func trace(seed uint64) []string {
	e := NewEngine()
	r := rand.New(rand.NewPCG(seed, 1))
	var out []string
	var live []Timer
	var spawn func(id int) func()
	spawn = func(id int) func() {
		return func() {
			out = append(out, e.Elapsed().String()+"#"+string(rune('a'+id%26)))
			if len(out) > 3000 {
				return
			}
			for range r.IntN(3) {
				live = append(live, e.After(time.Duration(r.IntN(5))*time.Millisecond, spawn(r.IntN(1000))))
			}
			if len(live) > 0 && r.IntN(4) == 0 {
				live[r.IntN(len(live))].Cancel()
			}
		}
	}
	for i := range 50 {
		e.After(time.Duration(r.IntN(10))*time.Millisecond, spawn(i))
	}
	e.Run()
	return out
}

func TestEngineDeterministic(t *testing.T) {
	a, b := trace(42), trace(42)
	if len(a) < 100 || !slices.Equal(a, b) {
		t.Fatalf("two runs with one seed differ (lengths %d, %d)", len(a), len(b))
	}
	if slices.Equal(a, trace(43)) {
		t.Fatal("different seeds gave the same trace: the test is not exercising anything")
	}
}

const benchPending = 100000

// BenchmarkEngine is the hold model: 100,000 events stay pending, and every
// event processed schedules one more at a random future time.
func BenchmarkEngine(b *testing.B) {
	e := NewEngine()
	r := rand.New(rand.NewPCG(1, 2))
	var tick func()
	tick = func() { e.After(time.Duration(r.Int64N(int64(time.Second))), tick) }
	for range benchPending {
		tick()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.Step()
	}
	b.StopTimer()
	if e.Pending() != benchPending {
		b.Fatalf("pending %d, want %d", e.Pending(), benchPending)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEngineCancel adds a timeout to every event that the next event
// cancels, as a framework's delay-scheduling timer does: two schedules and
// one cancel per processed event, 100,000 pending.
func BenchmarkEngineCancel(b *testing.B) {
	e := NewEngine()
	r := rand.New(rand.NewPCG(1, 2))
	var timeout Timer
	noop := func() {}
	var tick func()
	tick = func() {
		timeout.Cancel()
		e.After(time.Duration(r.Int64N(int64(time.Second))), tick)
		timeout = e.After(time.Duration(r.Int64N(int64(time.Second))), noop)
	}
	for range benchPending {
		e.After(time.Duration(r.Int64N(int64(time.Second))), tick)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.Step()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func ExampleEngine() {
	e := NewEngine()
	e.After(5*time.Second, func() { fmt.Println("second at", e.Elapsed()) })
	e.After(time.Second, func() { fmt.Println("first at", e.Elapsed()) })
	e.Run()
	fmt.Println(e.Now().Format(time.RFC3339), e.Processed())
	// Output:
	// first at 1s
	// second at 5s
	// 2011-03-30T00:00:05Z 2
}
