package hadoop

import (
	"math"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/traces"
)

// Locality levels of delay scheduling.
const (
	levelNode int8 = iota
	levelRack
	levelAny
)

type mapState int8

const (
	pending mapState = iota
	running
	finished
)

type mapTask struct {
	block   string
	locs    []mezzo.AgentID
	state   mapState
	attempt int32
}

// job is one MapReduce job's scheduling state.
type job struct {
	id     string
	seq    int
	rec    JobRecord
	labels map[string]string // shared by its tasks, read-only

	maps              []mapTask
	mapDur, reduceDur time.Duration
	pendingMaps       int
	mapsFinished      int
	byAgent           map[mezzo.AgentID][]int32 // pending maps by replica holder; stale entries skipped lazily
	anyCursor         int32
	reduces           int
	pendingReduces    int
	nextReduce        int32
	retryReduces      []int32
	reduceAttempt     int
	reducesFinished   int
	running           int
	level             int8
	waiting           bool
	waitSince         time.Time
}

func newJob(tj traces.Job, now time.Time, store Storage, seq int) *job {
	j := &job{
		id: tj.ID, seq: seq,
		rec:    JobRecord{ID: tj.ID, Submit: now, Maps: max(tj.Maps, 0), Reduces: max(tj.Reduces, 0)},
		labels: map[string]string{"job": tj.ID},
		maps:   make([]mapTask, max(tj.Maps, 0)),
		mapDur: tj.MapDuration, reduceDur: tj.ReduceDuration,
		reduces: max(tj.Reduces, 0),
		byAgent: map[mezzo.AgentID][]int32{},
	}
	j.pendingMaps = len(j.maps)
	j.pendingReduces = j.reduces
	var blocks []string
	if store != nil {
		blocks = store.Blocks(tj.ID)
	}
	for i := range j.maps {
		if i >= len(blocks) {
			break
		}
		m := &j.maps[i]
		m.block = blocks[i]
		m.locs = store.Locations(m.block)
		for _, a := range m.locs {
			j.byAgent[a] = append(j.byAgent[a], int32(i))
		}
	}
	return j
}

// left is the number of tasks still to launch.
func (j *job) left() int { return j.pendingMaps + j.pendingReduces }

// reduceGate is how many maps must finish before reduces may start.
func (j *job) reduceGate(slowstart float64) int {
	return int(math.Ceil(slowstart * float64(len(j.maps))))
}

// localMap finds a pending map with a replica on agent. A map without
// input counts as local everywhere.
func (j *job) localMap(agent mezzo.AgentID) (int32, bool) {
	list := j.byAgent[agent]
	for len(list) > 0 {
		i := list[0]
		list = list[1:]
		if j.maps[i].state == pending {
			j.byAgent[agent] = list
			return i, true
		}
	}
	delete(j.byAgent, agent)
	// Maps without input run anywhere.
	if i, ok := j.anyMap(); ok && len(j.maps[i].locs) == 0 {
		return i, true
	}
	return 0, false
}

// anyMap finds the first pending map.
func (j *job) anyMap() (int32, bool) {
	for j.anyCursor < int32(len(j.maps)) && j.maps[j.anyCursor].state != pending {
		j.anyCursor++
	}
	if j.anyCursor < int32(len(j.maps)) {
		return j.anyCursor, true
	}
	return 0, false
}

// requeueMap makes a failed map pending again.
func (j *job) requeueMap(i int32) {
	m := &j.maps[i]
	m.state = pending
	j.pendingMaps++
	if i < j.anyCursor {
		j.anyCursor = i
	}
	for _, a := range m.locs {
		j.byAgent[a] = append(j.byAgent[a], i)
	}
}
