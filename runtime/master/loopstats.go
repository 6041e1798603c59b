package master

import (
	"sync/atomic"
	"time"
)

// LoopStats is the work the master's loop has done since it started:
// what benchmarks read to report the master's own cost, apart from the
// agents, frameworks and gRPC transport that share a process with it in a
// benchmark.
type LoopStats struct {
	// Messages is how many gRPC calls and stream events the loop ran;
	// MessageTime the time it spent running them (not waiting for them).
	Messages    uint64
	MessageTime time.Duration
	// Cycles is how many allocation cycles ran, CycleTime their total
	// time and MaxCycle the longest.
	Cycles    uint64
	CycleTime time.Duration
	MaxCycle  time.Duration
}

// Busy is the loop's time spent on messages and allocation, the master's
// serial cost: its throughput cannot exceed the work done per second of
// Busy.
func (s LoopStats) Busy() time.Duration { return s.MessageTime + s.CycleTime }

// Sub is the work done between an earlier reading and s (MaxCycle is
// kept from s).
func (s LoopStats) Sub(earlier LoopStats) LoopStats {
	return LoopStats{
		Messages: s.Messages - earlier.Messages, MessageTime: s.MessageTime - earlier.MessageTime,
		Cycles: s.Cycles - earlier.Cycles, CycleTime: s.CycleTime - earlier.CycleTime, MaxCycle: s.MaxCycle,
	}
}

// LoopStats reads the loop's counters; safe from any goroutine.
func (m *Master) LoopStats() LoopStats { return m.obs.loop.read() }

// loopCounters are written by the loop and read from anywhere.
type loopCounters struct {
	messages, messageNanos, cycles, cycleNanos, maxCycleNanos atomic.Int64
}

func (c *loopCounters) message(d time.Duration) {
	c.messages.Add(1)
	c.messageNanos.Add(int64(d))
}

func (c *loopCounters) cycle(d time.Duration) {
	c.cycles.Add(1)
	c.cycleNanos.Add(int64(d))
	if int64(d) > c.maxCycleNanos.Load() {
		c.maxCycleNanos.Store(int64(d)) // one writer: the loop
	}
}

func (c *loopCounters) read() LoopStats {
	return LoopStats{
		Messages: uint64(c.messages.Load()), MessageTime: time.Duration(c.messageNanos.Load()),
		Cycles: uint64(c.cycles.Load()), CycleTime: time.Duration(c.cycleNanos.Load()), MaxCycle: time.Duration(c.maxCycleNanos.Load()),
	}
}
