package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the result for people: configuration, throughput,
// latencies, cost.
func (r LaunchResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}
	row("benchmark", "launch: %d agents (%s), %d frameworks, %d tasks (%s, %gms), policy %s",
		r.Agents, r.AgentResources, r.Frameworks, r.Tasks, r.TaskResources, r.TaskDurationMS, r.Policy)
	row("tasks/s (overall)", "%.0f\t%d tasks ended in %.3fs", r.TasksPerSecond, r.Tasks, r.ElapsedSeconds)
	row("launches/s", "%.0f\tfirst accept → last TASK_RUNNING in %.3fs", r.LaunchesPerSecond, r.LaunchSeconds)
	lat := func(name string, q Quantiles) {
		row(name, "p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\t%d samples", q.P50, q.P90, q.P99, q.Max, q.Samples)
	}
	lat("launch latency", r.LaunchLatency)
	lat("offer latency", r.OfferLatency)
	row("offers / accepts", "%d / %d", r.Offers, r.Accepts)
	row("tasks running / finished", "%d / %d\tincomplete %d, duplicates %d", r.Running, r.Finished, r.Incomplete, r.Duplicates)
	row("memory per agent", "%.1f KiB heap, %.1f goroutines\tmaster side included", r.AgentHeapBytes/1024, r.AgentGoroutines)
	row("CPU (whole process)", "%.2fs\t%.3fms per task, %.2f cores busy", r.CPUSeconds, r.CPUPerTaskMS, r.CPUUtilisation)
	row("allocator conserved", "%v", r.Conserved)
	if len(r.Updates) > 0 {
		states := make([]string, 0, len(r.Updates))
		for s := range r.Updates {
			states = append(states, s)
		}
		sort.Strings(states)
		parts := make([]string, len(states))
		for i, s := range states {
			parts[i] = fmt.Sprintf("%s %d", s, r.Updates[s])
		}
		row("updates", "%s", strings.Join(parts, ", "))
	}
	for _, e := range r.Errors {
		row("error", "%s", e)
	}
	return tw.Flush()
}
