package pi

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mezzo-cluster/mezzo"
)

// Kind is the executor kind the π tasks name.
const Kind = "pi"

// checkEvery is how many samples pass between looks at the kill flag: rare
// enough not to slow the loop, often enough that a kill lands promptly.
const checkEvery = 1 << 16

// Executor runs π tasks. The zero value is ready to use.
type Executor struct {
	// Inline samples inside LaunchTask instead of on a goroutine, so the
	// terminal update is sent before LaunchTask returns. Deterministic
	// in-process hosts (the simulator) set it; processes under a real
	// agent leave it off so a long task does not block the executor.
	Inline bool

	mu      sync.Mutex
	running map[mezzo.TaskID]*atomic.Bool // kill flags of tasks in flight
	wg      sync.WaitGroup
}

// NewExecutor returns an executor that samples on a goroutine per task.
func NewExecutor() *Executor { return &Executor{} }

// Registered needs no setup.
func (e *Executor) Registered(mezzo.ExecutorDriver, mezzo.ExecutorInfo, mezzo.FrameworkID, mezzo.AgentID) {
}

// LaunchTask reports TASK_RUNNING, then samples and reports TASK_FINISHED
// with the estimate, or TASK_FAILED when the task data is not a sample count.
func (e *Executor) LaunchTask(d mezzo.ExecutorDriver, task mezzo.TaskInfo) {
	samples, err := ParseSamples(task.Data)
	if err != nil {
		_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskFailed, Message: err.Error()})
		return
	}
	killed := new(atomic.Bool)
	e.mu.Lock()
	if e.running == nil {
		e.running = make(map[mezzo.TaskID]*atomic.Bool)
	}
	e.running[task.ID] = killed
	e.mu.Unlock()
	_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskRunning})

	run := func() {
		est, ok := sample(task.ID, samples, killed)
		e.mu.Lock()
		delete(e.running, task.ID)
		e.mu.Unlock()
		if !ok {
			_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: task.ID, State: mezzo.TaskKilled, Message: "killed while sampling"})
			return
		}
		_ = d.SendStatusUpdate(mezzo.TaskStatus{
			TaskID:  task.ID,
			State:   mezzo.TaskFinished,
			Message: fmt.Sprintf("%d samples", samples),
			Data:    EncodeEstimate(est),
		})
	}
	if e.Inline {
		run()
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		run()
	}()
}

// KillTask stops a task that is still sampling; it reports TASK_KILLED.
func (e *Executor) KillTask(_ mezzo.ExecutorDriver, id mezzo.TaskID) {
	e.mu.Lock()
	if k := e.running[id]; k != nil {
		k.Store(true)
	}
	e.mu.Unlock()
}

// FrameworkMessage ignores messages: π tasks need none.
func (e *Executor) FrameworkMessage(mezzo.ExecutorDriver, []byte) {}

// Shutdown kills every task in flight, waits for their updates, and stops.
func (e *Executor) Shutdown(d mezzo.ExecutorDriver) {
	e.mu.Lock()
	for _, k := range e.running {
		k.Store(true)
	}
	e.mu.Unlock()
	e.wg.Wait()
	_ = d.Stop()
}

// Sample estimates π from n points drawn by a generator seeded from the task
// ID, so the same task gives the same answer in every world.
func Sample(id mezzo.TaskID, n int64) float64 {
	est, _ := sample(id, n, nil)
	return est
}

func sample(id mezzo.TaskID, n int64, killed *atomic.Bool) (float64, bool) {
	h := fnv.New64a()
	h.Write([]byte(id))
	seed := h.Sum64()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var inside int64
	for i := int64(0); i < n; i++ {
		if killed != nil && i%checkEvery == 0 && killed.Load() {
			return 0, false
		}
		x, y := r.Float64(), r.Float64()
		if x*x+y*y <= 1 {
			inside++
		}
	}
	if n == 0 {
		return 0, true
	}
	return 4 * float64(inside) / float64(n), true
}

// EncodeSamples is the task data for n samples.
func EncodeSamples(n int64) []byte { return strconv.AppendInt(nil, n, 10) }

// ParseSamples reads task data written by EncodeSamples.
func ParseSamples(data []byte) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("pi task data %q is not a positive number of samples", data)
	}
	return n, nil
}

// EncodeEstimate is the status data for an estimate; it round-trips exactly.
func EncodeEstimate(v float64) []byte { return strconv.AppendFloat(nil, v, 'g', -1, 64) }

// ParseEstimate reads status data written by EncodeEstimate.
func ParseEstimate(data []byte) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
	if err != nil {
		return 0, fmt.Errorf("pi result %q is not a number", data)
	}
	return v, nil
}
