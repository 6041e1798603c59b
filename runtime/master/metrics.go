package master

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mezzo-cluster/mezzo"
)

// observer holds what the loop reports as it works (offer counters, cycle
// and queueing times, updates awaiting acknowledgement) and the Prometheus
// registry of this master. Each master has its own registry, never the
// global default one, so a test can run several masters side by side.
//
// The counters and histograms are safe from any goroutine; pending is
// owned by the loop.
//
// Every series counts; none names a framework, a role or a principal:
// /metrics is open to anyone who reaches the HTTP port (scrapers carry no
// credentials), and which tenants run what is for view_state holders
// (/state, /frameworks). A per-framework label would also add series for
// every framework ever registered, a flood's worth of them.
type observer struct {
	reg *prometheus.Registry

	offersSent, offersAccepted, offersDeclined, offersRescinded prometheus.Counter
	tasksLaunched                                               prometheus.Counter
	tasksEnded                                                  *prometheus.CounterVec
	// subscriptionsRefused counts subscriptions refused for a limit, by
	// which (limitRate, limitFrameworks).
	subscriptionsRefused *prometheus.CounterVec

	cycle *prometheus.HistogramVec
	queue prometheus.Histogram

	// loop counts the loop's work for LoopStats (loopstats.go).
	loop loopCounters

	leader atomic.Bool
	views  viewCache

	viewMetrics sync.Once
	httpOnce    sync.Once // starts the share sampler
	shares      *shareRing

	// pending holds status updates forwarded to schedulers and not yet
	// acknowledged; loop-owned.
	pending map[ackKey]struct{}
}

type ackKey struct {
	fw   mezzo.FrameworkID
	task mezzo.TaskID
	uuid string
}

func newObserver() *observer {
	o := &observer{reg: prometheus.NewRegistry(), pending: map[ackKey]struct{}{}}
	o.views.maxAge = DefaultViewMaxAge
	o.shares = newShareRing(shareSamples)
	o.leader.Store(true)
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mezzo", Subsystem: "master", Name: name, Help: help})
		o.reg.MustRegister(c)
		return c
	}
	counterBy := func(name, help, label string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mezzo", Subsystem: "master", Name: name, Help: help}, []string{label})
		o.reg.MustRegister(c)
		return c
	}
	o.offersSent = counter("offers_sent_total", "Offers sent to frameworks.")
	o.offersAccepted = counter("offers_accepted_total", "Offers frameworks used in a valid accept.")
	o.offersDeclined = counter("offers_declined_total", "Offers frameworks declined.")
	o.offersRescinded = counter("offers_rescinded_total", "Offers the master took back (timeout, agent gone).")
	o.tasksLaunched = counter("tasks_launched_total", "Tasks sent to agents.")
	o.tasksEnded = counterBy("tasks_ended_total", "Tasks that reached a terminal state, by state.", "state")
	o.subscriptionsRefused = counterBy("subscriptions_refused_total",
		"Subscriptions refused for a limit: a principal over its subscription rate (rate) or at its frameworks cap (frameworks).", "limit")
	// Buckets from 10 µs: an incremental cycle over a few agents takes
	// microseconds, a full cycle at 10,000 agents milliseconds.
	o.cycle = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "mezzo", Subsystem: "master", Name: "allocation_cycle_seconds",
		Help:    "Time the allocator spends in one allocation cycle, full (all agents) or incremental (agents with freed resources).",
		Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10),
	}, []string{"kind"})
	o.queue = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "mezzo", Subsystem: "master", Name: "loop_queue_seconds",
		Help:    "Time a message (gRPC call, stream event, state request) waits before the master's loop runs it.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
	})
	// The loop's busy time, so a master in another process (the
	// scalability experiment's) reports its serial cost per decision too.
	busy := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "mezzo", Subsystem: "master", Name: "loop_busy_seconds_total",
		Help: "Time the master's loop spent running messages and allocation cycles (not waiting): its serial cost.",
	}, func() float64 { return o.loop.read().Busy().Seconds() })
	o.reg.MustRegister(o.cycle, o.queue, busy)
	return o
}

// timed wraps a loop message so its wait in the inbox is measured.
func (o *observer) timed(f func()) func() {
	queued := time.Now()
	return func() {
		start := time.Now()
		o.queue.Observe(start.Sub(queued).Seconds())
		f()
		o.loop.message(time.Since(start))
	}
}

// allocation records one allocation cycle of the given kind ("full" or
// "incremental") that started at start.
func (o *observer) allocation(kind string, start time.Time) {
	d := time.Since(start)
	o.cycle.WithLabelValues(kind).Observe(d.Seconds())
	o.loop.cycle(d)
}

func (o *observer) sent(n int)     { o.offersSent.Add(float64(n)) }
func (o *observer) accepted(n int) { o.offersAccepted.Add(float64(n)) }
func (o *observer) declined(n int) { o.offersDeclined.Add(float64(n)) }
func (o *observer) rescinded()     { o.offersRescinded.Inc() }
func (o *observer) launched(n int) { o.tasksLaunched.Add(float64(n)) }

func (o *observer) ended(st mezzo.TaskState) { o.tasksEnded.WithLabelValues(st.String()).Inc() }

// The limits of subscriptionsRefused.
const (
	limitRate       = "rate"
	limitFrameworks = "frameworks"
)

func (o *observer) refused(limit string) { o.subscriptionsRefused.WithLabelValues(limit).Inc() }

// awaitAck notes an update forwarded to a scheduler that must be
// acknowledged; loop only.
func (o *observer) awaitAck(fw mezzo.FrameworkID, task mezzo.TaskID, uuid string) {
	if uuid != "" {
		o.pending[ackKey{fw, task, uuid}] = struct{}{}
	}
}

// acked notes a scheduler's acknowledgement; loop only.
func (o *observer) acked(fw mezzo.FrameworkID, task mezzo.TaskID, uuid string) {
	delete(o.pending, ackKey{fw, task, uuid})
}

// pendingAcks counts updates awaiting acknowledgement from frameworks
// still registered (a removed framework never acknowledges; its entries
// are dropped here); loop only.
func (o *observer) pendingAcks(known func(mezzo.FrameworkID) bool) int {
	for k := range o.pending {
		if !known(k.fw) {
			delete(o.pending, k)
		}
	}
	return len(o.pending)
}

// Metrics is the master's Prometheus registry: /metrics of the master's
// HTTP server serves it; a caller may register its own collectors too.
func (m *Master) Metrics() *prometheus.Registry {
	// The state gauges need the master, which the observer is part of;
	// they join the registry on first use.
	m.obs.viewMetrics.Do(func() { m.obs.reg.MustRegister(newViewCollector(m)) })
	return m.obs.reg
}

// SetLeader records whether a master without etcd leads (true, the
// default) or not; it is exported as mezzo_master_leader. With etcd
// (HAConfig.Etcd) the election decides and SetLeader is ignored.
func (m *Master) SetLeader(leading bool) { m.obs.leader.Store(leading) }

// Leader reports whether this master acts as leader now. With etcd it is
// exactly when the master serves calls (acting, election.go): a leader
// cut off from etcd reports standby from the instant it stops acting.
func (m *Master) Leader() bool {
	if m.ha.enabled {
		return m.acting(time.Now())
	}
	return m.obs.leader.Load()
}

// viewCollector exports the gauges that describe the master's state at
// one instant; each scrape reads the state view (refreshed at most every
// ViewMaxAge), never the loop's live data.
type viewCollector struct {
	m     *Master
	descs map[string]*prometheus.Desc
}

func newViewCollector(m *Master) *viewCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("mezzo", "master", name), help, labels, nil)
	}
	return &viewCollector{m: m, descs: map[string]*prometheus.Desc{
		"capacity":   d("resource_capacity", "Resources of registered agents (cpus in cores, mem and disk in megabytes).", "resource"),
		"used":       d("resource_used", "Resources held by tasks and executors.", "resource"),
		"offered":    d("resource_offered", "Resources in outstanding offers (allocated until used or declined).", "resource"),
		"free":       d("resource_free", "Resources on active agents neither offered nor used.", "resource"),
		"agents":     d("agents", "Registered agents: active (connected) or unreachable (disconnected, not yet removed).", "state"),
		"frameworks": d("frameworks", "Registered frameworks: active (subscribed) or inactive (disconnected, within failover timeout).", "state"),
		"tasks":      d("tasks", "Live tasks by state.", "state"),
		"roles":      d("roles", "Roles with registered frameworks (each role's share is in /state, for view_state holders)."),
		"offers":     d("offers_outstanding", "Offers sent and not yet answered."),
		"pending":    d("status_updates_pending_ack", "Status updates forwarded to schedulers and not yet acknowledged."),
		"leader":     d("leader", "1 when this master leads, 0 when it stands by."),
		"viewage":    d("state_view_age_seconds", "Age of the state view these gauges were read from."),
	}}
}

func (c *viewCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *viewCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	leader := 0.0
	if c.m.Leader() {
		leader = 1
	}
	gauge("leader", leader)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.m.View(ctx)
	if err != nil {
		return // the master is stopping: export what needs no view
	}
	gauge("viewage", time.Since(v.Time).Seconds())
	t := v.Totals
	for _, r := range []struct {
		name string
		res  mezzo.Resources
	}{{"capacity", t.Total}, {"used", t.Used}, {"offered", t.Offered}, {"free", t.Free}} {
		for _, s := range r.res.Scalars() {
			gauge(r.name, s.Value(), s.Name)
		}
	}
	gauge("agents", float64(v.Summary.AgentsActive), "active")
	gauge("agents", float64(v.Summary.AgentsUnreachable), "unreachable")
	gauge("frameworks", float64(v.Summary.FrameworksActive), "active")
	gauge("frameworks", float64(v.Summary.FrameworksInactive), "inactive")
	for _, st := range []mezzo.TaskState{mezzo.TaskStaging, mezzo.TaskStarting, mezzo.TaskRunning, mezzo.TaskKilling} {
		gauge("tasks", float64(v.Summary.LiveTasks[st.String()]), st.String())
	}
	gauge("roles", float64(len(v.Roles)))
	gauge("offers", float64(t.Offers))
	gauge("pending", float64(v.Summary.PendingAcks))
}

func sortedStrings[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
