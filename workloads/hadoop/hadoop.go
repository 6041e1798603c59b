package hadoop

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/traces"
)

// Storage says where a job's input lives: the blocks its maps read, one per
// map in order, and the agents holding each block. The simulator's DFS
// provides it; a job with fewer blocks than maps runs its extra maps without
// input (anywhere, without waiting).
type Storage interface {
	Blocks(job string) []string
	Locations(block string) []mezzo.AgentID
}

// Sharing is how the framework shares its slots between its own jobs.
type Sharing int

// Sharing policies.
const (
	// FIFO offers every slot to the oldest job first (Hadoop's default
	// scheduler); with delay scheduling a job that skips lets the next
	// one take the slot.
	FIFO Sharing = iota
	// Fair offers each slot to the job with the fewest running tasks
	// (Hadoop's fair scheduler, equal weights).
	Fair
)

func (s Sharing) String() string {
	if s == Fair {
		return "fair"
	}
	return "fifo"
}

// ParseSharing reads "fifo" or "fair".
func ParseSharing(s string) (Sharing, error) {
	switch s {
	case "fifo":
		return FIFO, nil
	case "fair":
		return Fair, nil
	}
	return 0, fmt.Errorf("hadoop: unknown sharing %q (known: fair, fifo)", s)
}

// Config configures the framework. Start from DefaultConfig: New takes
// every field literally.
type Config struct {
	// Name prefixes nothing but is reported in errors.
	Name string
	// Slot is the resources of one task (map or reduce).
	Slot mezzo.Resources
	// NodeDelay is how long a job waits for a node-local slot before it
	// accepts a rack-local one; RackDelay how much longer before it
	// accepts any slot. Zero turns a level off.
	NodeDelay, RackDelay time.Duration
	// Sharing orders the framework's own jobs.
	Sharing Sharing
	// ReduceSlowstart is the fraction of a job's maps that must have
	// finished before its reduces may start (Hadoop's
	// mapred.reduce.slowstart.completed.maps), in [0, 1].
	ReduceSlowstart float64
	// Refuse is the decline filter of an offer the framework cannot use
	// now (nothing runnable, or every job waiting for locality).
	Refuse time.Duration
	// Jobs, when set, are submitted by the framework itself at their
	// Submit offsets from its first registration. Leave empty when the
	// host calls Submit at the right times instead.
	Jobs []traces.Job
}

// DefaultConfig is a Hadoop 0.20-like setup: slots of 1 cpu and 2 GB (four
// slots on the paper's 4-core, 15 GB nodes), FIFO, reduces once all maps
// are done, delay scheduling with 5 s at each level (the Mesos paper's
// setting), and a 1 s refuse filter so a declined agent comes back at the
// next allocation batch.
func DefaultConfig() Config {
	return Config{
		Name:            "hadoop",
		Slot:            mezzo.MustParseResources("cpus:1;mem:2048"),
		NodeDelay:       5 * time.Second,
		RackDelay:       5 * time.Second,
		Sharing:         FIFO,
		ReduceSlowstart: 1,
		Refuse:          time.Second,
	}
}

// JobRecord is what the framework knows of one job. Start and Finish are
// zero until the job starts (first task launched) and finishes (last task
// finished).
type JobRecord struct {
	ID                    string
	Submit, Start, Finish time.Time
	Maps, Reduces         int
	// Tasks counts tasks launched, retries included; InputMaps the maps
	// that read a block and LocalMaps those launched on an agent holding
	// their block.
	Tasks, InputMaps, LocalMaps int
}

// Framework is the Hadoop scheduler: a mezzo.Scheduler that runs MapReduce
// jobs with delay scheduling.
type Framework struct {
	cfg   Config
	store Storage
	d     mezzo.Driver

	jobs   []*job // submitted, in order
	active []*job // with tasks left to launch, in submit order
	byTask map[mezzo.TaskID]taskRef
	rackOf map[mezzo.AgentID]string
	inRack map[string][]mezzo.AgentID
	done   int
	origin time.Time
	fed    bool
	// unsubmitted counts Config.Jobs not yet submitted.
	unsubmitted int
	suppress    bool // suppression asked of the driver
	order       []*job
	// filteredUntil is when the last decline filter this framework asked
	// for runs out: before it, some agent may be hidden from a new job.
	filteredUntil time.Time
	// declineWait caches declineFor within one ResourceOffers call until
	// a job launches or starts waiting.
	declineWait      time.Duration
	declineWaitValid bool
}

type taskRef struct {
	j      *job
	reduce bool
	idx    int32
}

// New builds the framework. store may be nil when no job reads input.
func New(cfg Config, store Storage) (*Framework, error) {
	var errs []error
	if cfg.Slot.IsEmpty() {
		errs = append(errs, errors.New("hadoop: slot resources are empty"))
	}
	if cfg.NodeDelay < 0 || cfg.RackDelay < 0 {
		errs = append(errs, fmt.Errorf("hadoop: locality delays %v and %v must not be negative", cfg.NodeDelay, cfg.RackDelay))
	}
	if !(cfg.ReduceSlowstart >= 0 && cfg.ReduceSlowstart <= 1) {
		errs = append(errs, fmt.Errorf("hadoop: reduce slowstart %v is not in [0, 1]", cfg.ReduceSlowstart))
	}
	if cfg.Sharing != FIFO && cfg.Sharing != Fair {
		errs = append(errs, fmt.Errorf("hadoop: unknown sharing %d", cfg.Sharing))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "hadoop"
	}
	return &Framework{
		cfg: cfg, store: store, unsubmitted: len(cfg.Jobs),
		byTask: map[mezzo.TaskID]taskRef{},
		rackOf: map[mezzo.AgentID]string{},
		inRack: map[string][]mezzo.AgentID{},
	}, nil
}

// Submit adds a job now. It must be called between callbacks, as the host's
// events are (the simulator runs it on its engine).
func (f *Framework) Submit(tj traces.Job) {
	now := time.Time{}
	if f.d != nil {
		now = f.d.Now()
	}
	j := newJob(tj, now, f.store, len(f.jobs))
	f.jobs = append(f.jobs, j)
	if j.left() == 0 {
		j.rec.Finish = now
		f.done++
		return
	}
	f.active = append(f.active, j)
	f.declineWaitValid = false
	// A suppressed framework revives below, which clears its filters too.
	// One still taking offers revives only while some decline filter may
	// hide an agent this job wants; with none left, every free agent is
	// already offered to it, and a revive would only cost a full
	// allocation cycle and a re-offer of every idle agent.
	if f.d != nil && !f.suppress && now.Before(f.filteredUntil) {
		_ = f.d.ReviveOffers()
	}
	f.wantOffers()
}

// Unfinished is the number of jobs submitted and not finished, plus those
// still to be submitted from Config.Jobs.
func (f *Framework) Unfinished() int { return len(f.jobs) - f.done + f.unsubmitted }

// Done reports whether every job given has finished.
func (f *Framework) Done() bool { return f.Unfinished() == 0 }

// Records returns every submitted job's record, in submit order.
func (f *Framework) Records() []JobRecord {
	out := make([]JobRecord, len(f.jobs))
	for i, j := range f.jobs {
		out[i] = j.rec
	}
	return out
}

// Registered implements mezzo.Scheduler.
func (f *Framework) Registered(d mezzo.Driver, _ mezzo.FrameworkID) {
	f.d = d
	if !f.fed {
		f.fed = true
		f.origin = d.Now()
		for _, tj := range f.cfg.Jobs {
			d.AfterFunc(tj.Submit, func() {
				f.unsubmitted--
				f.Submit(tj)
			})
		}
	}
	f.suppress = false
	f.updateSuppression()
}

// ResourceOffers implements mezzo.Scheduler: fill each offer with as many
// slots as fit, each going to the first job (by the sharing policy) that
// may take it under delay scheduling.
func (f *Framework) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	f.d = d
	now := d.Now()
	f.declineWaitValid = false
	for _, o := range offers {
		rack := o.Attribute("rack")
		f.learn(o.AgentID, rack)
		free := o.Resources
		var tasks []mezzo.TaskInfo
		for free.Contains(f.cfg.Slot) {
			t, ok := f.pick(o.AgentID, rack, now)
			if !ok {
				break
			}
			t.AgentID = o.AgentID
			tasks = append(tasks, t)
			free = free.Sub(f.cfg.Slot)
		}
		if len(tasks) == 0 {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: f.filterFor(now, f.declineFor(now))})
			continue
		}
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{Refuse: f.filterFor(now, f.refuse())})
	}
	f.updateSuppression()
}

// declineFor is the filter of an offer no job took: until the first
// waiting job's locality level rises (it might take the agent then), and at
// least Refuse. Filtering for longer would be wrong for jobs submitted in
// the meantime, so Submit revives, which clears filters. It keeps a cluster
// of idle agents from being offered and declined every second while a job
// waits for its data.
func (f *Framework) declineFor(now time.Time) time.Duration {
	if f.declineWaitValid {
		return f.declineWait
	}
	f.declineWait, f.declineWaitValid = f.computeDeclineFor(now), true
	return f.declineWait
}

// filterFor notes a filter of d asked for now and returns it.
func (f *Framework) filterFor(now time.Time, d time.Duration) time.Duration {
	if d > 0 {
		if until := now.Add(d); until.After(f.filteredUntil) {
			f.filteredUntil = until
		}
	}
	return d
}

func (f *Framework) computeDeclineFor(now time.Time) time.Duration {
	base := f.refuse()
	if base < 0 {
		return base
	}
	next := time.Duration(-1)
	for _, j := range f.active {
		if j.pendingMaps == 0 || !j.waiting {
			continue
		}
		var at time.Time
		switch j.level {
		case levelNode:
			at = j.waitSince.Add(f.cfg.NodeDelay)
			if !at.After(now) {
				at = at.Add(f.cfg.RackDelay)
			}
		case levelRack:
			at = j.waitSince.Add(f.cfg.RackDelay)
		default:
			continue
		}
		if d := at.Sub(now); d > 0 && (next < 0 || d < next) {
			next = d
		}
	}
	return max(base, next)
}

func (f *Framework) refuse() time.Duration {
	if f.cfg.Refuse <= 0 {
		return -1
	}
	return f.cfg.Refuse
}

func (f *Framework) learn(agent mezzo.AgentID, rack string) {
	if _, ok := f.rackOf[agent]; ok || rack == "" {
		return
	}
	f.rackOf[agent] = rack
	f.inRack[rack] = append(f.inRack[rack], agent)
}

// pick chooses the next task for a slot on agent, or reports none.
func (f *Framework) pick(agent mezzo.AgentID, rack string, now time.Time) (mezzo.TaskInfo, bool) {
	jobs := f.active
	if f.cfg.Sharing == Fair {
		f.order = append(f.order[:0], f.active...)
		sort.SliceStable(f.order, func(a, b int) bool { return f.order[a].running < f.order[b].running })
		jobs = f.order
	}
	for _, j := range jobs {
		if t, ok := f.tryJob(j, agent, rack, now); ok {
			if j.left() == 0 {
				f.dropActive(j)
			}
			return t, true
		}
	}
	return mezzo.TaskInfo{}, false
}

// tryJob applies delay scheduling to one job (Zaharia et al., EuroSys 2010,
// Algorithm 2 with two levels): a node-local map is always taken; otherwise
// the job's allowed level rises to rack-local once it has waited NodeDelay
// since it last launched or began skipping, and to any once it has waited
// RackDelay more. Launching resets the wait and sets the level to the one
// launched at. Reduces have no locality and go as soon as they may.
func (f *Framework) tryJob(j *job, agent mezzo.AgentID, rack string, now time.Time) (mezzo.TaskInfo, bool) {
	if j.pendingMaps > 0 {
		if i, ok := j.localMap(agent); ok {
			return f.launchMap(j, i, levelNode, agent, now), true
		}
		if !j.waiting {
			j.waiting, j.waitSince = true, now
			f.declineWaitValid = false
		}
		allowed, waited := j.level, now.Sub(j.waitSince)
		if allowed == levelNode && waited >= f.cfg.NodeDelay {
			allowed, waited = levelRack, waited-f.cfg.NodeDelay
		}
		if allowed == levelRack && waited >= f.cfg.RackDelay {
			allowed = levelAny
		}
		if allowed >= levelRack {
			for _, peer := range f.inRack[rack] {
				if i, ok := j.localMap(peer); ok {
					return f.launchMap(j, i, levelRack, agent, now), true
				}
			}
		}
		if allowed == levelAny {
			if i, ok := j.anyMap(); ok {
				return f.launchMap(j, i, levelAny, agent, now), true
			}
		}
	}
	if j.pendingReduces > 0 && j.mapsFinished >= j.reduceGate(f.cfg.ReduceSlowstart) {
		return f.launchReduce(j, now), true
	}
	return mezzo.TaskInfo{}, false
}

func (f *Framework) launchMap(j *job, i int32, level int8, agent mezzo.AgentID, now time.Time) mezzo.TaskInfo {
	m := &j.maps[i]
	m.state = running
	j.pendingMaps--
	j.level, j.waiting = level, false
	f.declineWaitValid = false
	if len(m.locs) > 0 {
		j.rec.InputMaps++
		for _, a := range m.locs {
			if a == agent {
				j.rec.LocalMaps++
				break
			}
		}
	}
	m.attempt++
	id := mezzo.TaskID(j.id + "/m" + strconv.Itoa(int(i)) + "." + strconv.Itoa(int(m.attempt)))
	f.byTask[id] = taskRef{j: j, idx: i}
	t := mezzo.TaskInfo{ID: id, Name: "map", Resources: f.cfg.Slot, Duration: j.mapDur, Labels: j.labels}
	if m.block != "" {
		t.Input = []string{m.block}
	}
	f.started(j, now)
	return t
}

func (f *Framework) launchReduce(j *job, now time.Time) mezzo.TaskInfo {
	j.pendingReduces--
	i := j.nextReduce
	j.nextReduce++
	if len(j.retryReduces) > 0 {
		i = j.retryReduces[len(j.retryReduces)-1]
		j.retryReduces = j.retryReduces[:len(j.retryReduces)-1]
		j.nextReduce--
	}
	j.reduceAttempt++
	id := mezzo.TaskID(j.id + "/r" + strconv.Itoa(int(i)) + "." + strconv.Itoa(j.reduceAttempt))
	f.byTask[id] = taskRef{j: j, reduce: true, idx: i}
	f.started(j, now)
	return mezzo.TaskInfo{ID: id, Name: "reduce", Resources: f.cfg.Slot, Duration: j.reduceDur, Labels: j.labels}
}

func (f *Framework) started(j *job, now time.Time) {
	j.running++
	j.rec.Tasks++
	if j.rec.Start.IsZero() {
		j.rec.Start = now
	}
}

func (f *Framework) dropActive(j *job) {
	for i, x := range f.active {
		if x == j {
			f.active = append(f.active[:i], f.active[i+1:]...)
			return
		}
	}
}

// StatusUpdate implements mezzo.Scheduler: finished tasks advance their
// job; failed, lost or killed ones go back to pending.
func (f *Framework) StatusUpdate(d mezzo.Driver, st mezzo.TaskStatus) {
	f.d = d
	if !st.State.Terminal() {
		return
	}
	ref, ok := f.byTask[st.TaskID]
	if !ok {
		return
	}
	delete(f.byTask, st.TaskID)
	j := ref.j
	j.running--
	wasActive := j.left() > 0
	if st.State == mezzo.TaskFinished {
		if ref.reduce {
			j.reducesFinished++
		} else {
			j.maps[ref.idx].state = finished
			j.mapsFinished++
		}
		if j.mapsFinished == len(j.maps) && j.reducesFinished == j.reduces {
			j.rec.Finish = d.Now()
			f.done++
		}
	} else if ref.reduce {
		j.pendingReduces++
		j.retryReduces = append(j.retryReduces, ref.idx)
	} else {
		j.requeueMap(ref.idx)
	}
	if !wasActive && j.left() > 0 {
		f.active = append(f.active, j)
		sort.SliceStable(f.active, func(a, b int) bool { return f.active[a].seq < f.active[b].seq })
	}
	f.updateSuppression()
}

// wantOffers revives when there is something to launch.
func (f *Framework) wantOffers() { f.updateSuppression() }

// runnable reports whether some job could use a slot now.
func (f *Framework) runnable() bool {
	for _, j := range f.active {
		if j.pendingMaps > 0 || (j.pendingReduces > 0 && j.mapsFinished >= j.reduceGate(f.cfg.ReduceSlowstart)) {
			return true
		}
	}
	return false
}

// updateSuppression suppresses offers when nothing can run and revives
// when something can.
func (f *Framework) updateSuppression() {
	if f.d == nil {
		return
	}
	want := f.runnable()
	switch {
	case want && f.suppress:
		f.suppress = false
		_ = f.d.ReviveOffers()
	case !want && !f.suppress:
		f.suppress = true
		_ = f.d.SuppressOffers()
	}
}

// OfferRescinded implements mezzo.Scheduler; nothing is held.
func (f *Framework) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

// FrameworkMessage implements mezzo.Scheduler; no executor sends any.
func (f *Framework) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}

// AgentLost implements mezzo.Scheduler; its tasks come back as TASK_LOST.
func (f *Framework) AgentLost(mezzo.Driver, mezzo.AgentID) {}

// Error implements mezzo.Scheduler.
func (f *Framework) Error(mezzo.Driver, string) {}
