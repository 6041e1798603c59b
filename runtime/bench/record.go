package bench

import (
	"math"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// recorder collects the timestamps of one launch run. The tap on the
// agents' connection and every framework's callbacks write to it, from
// many goroutines, hence the lock.
type recorder struct {
	mu    sync.Mutex
	total int
	task  mezzo.Resources // what one task uses, to count frees an offer covers

	// freed holds, per agent, the times terminal updates left the agent
	// that no offer has covered yet, oldest first.
	freed       map[mezzo.AgentID][]time.Time
	freedSeen   map[mezzo.TaskID]bool // a resent terminal update frees nothing more
	offerLat    []time.Duration
	offersSeen  int
	offersFresh int // offers that covered no recorded free (registration, leftovers)

	accepted  map[mezzo.TaskID]time.Time
	launchLat []time.Duration
	states    map[mezzo.TaskID]*taskCounts
	byState   map[mezzo.TaskState]int
	accepts   int

	firstAccept, lastRunning, lastEnded time.Time
	running, ended                      int

	// from and to, when set, bound the measured window: latency samples
	// count when their start (the free, the accept) falls in it, offers
	// and tasks when they arrive in it.
	from, to       time.Time
	offersInWindow int
	runningInWin   int

	progress func(ended, total int)
	done     chan struct{}
	errors   []string // the first failed driver calls and Error callbacks
	failures int
}

// taskCounts is how many updates of each kind one task's scheduler saw.
type taskCounts struct {
	running, finished, other int
}

func newRecorder(total int, task mezzo.Resources, progress func(int, int)) *recorder {
	return &recorder{
		total: total, task: task, progress: progress,
		freed: map[mezzo.AgentID][]time.Time{}, freedSeen: map[mezzo.TaskID]bool{},
		accepted: make(map[mezzo.TaskID]time.Time, total), states: make(map[mezzo.TaskID]*taskCounts, total),
		byState: map[mezzo.TaskState]int{}, done: make(chan struct{}),
	}
}

// freedAt notes that an agent sent the terminal update of a task at t:
// from the master's point of view its resources are free once that update
// is applied.
func (r *recorder) freedAt(agent mezzo.AgentID, task mezzo.TaskID, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.freedSeen[task] {
		return
	}
	r.freedSeen[task] = true
	r.freed[agent] = append(r.freed[agent], t)
}

// offered matches an offer received at t against the oldest frees on its
// agent that it can hold: an offer with room for k tasks covers at most k
// frees. Matching oldest first makes the figure an upper bound when frees
// and offers interleave.
func (r *recorder) offered(o mezzo.Offer, t time.Time) {
	k := fits(o.Resources, r.task, 1<<30)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offersSeen++
	q := r.freed[o.AgentID]
	n := min(k, len(q))
	if n == 0 {
		r.offersFresh++
		return
	}
	if r.inWindow(t) {
		r.offersInWindow++
	}
	for _, f := range q[:n] {
		if r.inWindow(f) {
			r.offerLat = append(r.offerLat, t.Sub(f))
		}
	}
	if n == len(q) {
		delete(r.freed, o.AgentID)
	} else {
		r.freed[o.AgentID] = q[n:]
	}
}

// launching notes the accept of tasks about to be sent at t.
func (r *recorder) launching(ids []mezzo.TaskID, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstAccept.IsZero() {
		r.firstAccept = t
	}
	r.accepts++
	for _, id := range ids {
		r.accepted[id] = t
		r.states[id] = &taskCounts{}
	}
}

// update notes a status update reaching a scheduler at t.
func (r *recorder) update(st mezzo.TaskStatus, t time.Time) {
	r.mu.Lock()
	c := r.states[st.TaskID]
	if c == nil {
		c = &taskCounts{}
		r.states[st.TaskID] = c
	}
	r.byState[st.State]++
	ended := false
	switch {
	case st.State == mezzo.TaskRunning:
		c.running++
		if c.running == 1 {
			r.running++
			r.lastRunning = t
			if r.inWindow(t) {
				r.runningInWin++
			}
			if at, ok := r.accepted[st.TaskID]; ok && r.inWindow(at) {
				r.launchLat = append(r.launchLat, t.Sub(at))
			}
		}
	case st.State == mezzo.TaskFinished:
		c.finished++
		ended = c.finished == 1 && c.other == 0
	case st.State.Terminal():
		c.other++
		ended = c.other == 1 && c.finished == 0
	}
	var progress func(int, int)
	n := r.ended
	if ended {
		r.ended++
		n = r.ended
		r.lastEnded = t
		progress = r.progress
		if r.ended == r.total {
			close(r.done)
		}
	}
	r.mu.Unlock()
	if progress != nil {
		progress(n, r.total)
	}
}

// inWindow says whether t falls in the measured window (always, when no
// window is set).
func (r *recorder) inWindow(t time.Time) bool {
	return r.from.IsZero() || (!t.Before(r.from) && t.Before(r.to))
}

// window sets the measured window.
func (r *recorder) window(from, to time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.from, r.to = from, to
}

// live is how many tasks are running: reached TASK_RUNNING, not ended.
func (r *recorder) live() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running - r.ended
}

// started is how many tasks reached TASK_RUNNING so far.
func (r *recorder) started() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

// fail notes a driver call that failed or an Error callback.
func (r *recorder) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures++
	if len(r.errors) < 10 {
		r.errors = append(r.errors, msg)
	}
}

// fits counts how many copies of need fit in have, up to limit: the
// smallest quotient over need's scalars (ports are not counted).
func fits(have, need mezzo.Resources, limit int) int {
	n := limit
	counted := false
	for _, s := range need.Scalars() {
		if s.Value() <= 0 {
			continue
		}
		counted = true
		// Scalars are exact thousandths; the epsilon absorbs float division.
		n = min(n, int(math.Floor(have.Get(s.Name)/s.Value()+1e-9)))
	}
	if !counted {
		return 0
	}
	return max(n, 0)
}
