package traces

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Byte units. Hadoop and SWIM count in powers of two: SWIM's replay scripts
// use an input partition of 67,108,864 bytes for "64 MB".
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
)

// TaskModel turns the bytes of a job into task counts and task durations.
// The traces record bytes, not times, so some model is unavoidable; this one
// is the simplest that keeps Hadoop-era proportions:
//
//	maps            = ceil(input / BlockBytes), at least 1
//	reduces         = ceil((shuffle + output) / BytesPerReduce), 0 when both are 0
//	map duration    = TaskOverhead + (input / maps) / MapBytesPerSecond
//	reduce duration = TaskOverhead + ((shuffle + output) / reduces) / ReduceBytesPerSecond
//
// Reduces are counted from shuffle plus output, as SWIM does, because in
// Hadoop a reducer both receives the shuffle and writes the job's output. A
// job whose shuffle and output are both zero is treated as map-only (0
// reduces) rather than given a reducer with nothing to do: SWIM's replayer
// forces one, but an idle reducer would only occupy a slot in the simulator.
//
// Durations are rounded to the millisecond so that printed traces stay
// readable and identical across platforms.
//
// The zero value of any field means "use the default" (see DefaultTaskModel).
type TaskModel struct {
	// BlockBytes is the input one map task reads. Default 64 MiB: the HDFS
	// block size of Hadoop 0.20 used by Facebook in 2009, and SWIM's
	// "64 MB" map partition.
	BlockBytes int64

	// BytesPerReduce is the shuffle plus output handled by one reduce task.
	// Default 1 GiB, the usual Hadoop-era sizing of a reducer. SWIM's example
	// replay scripts use 64 MiB, which gives a job with 78 GB of shuffle more
	// than a thousand reducers; 1 GiB keeps roughly one reduce per ten to
	// twenty maps for jobs whose shuffle is about their input, close to the
	// map/reduce ratios of the Mesos paper's Facebook bins (10/2, 100/10, 400/30).
	BytesPerReduce int64

	// MapBytesPerSecond is how fast a map task consumes local input.
	// Default 4 MiB/s, so a full 64 MiB block takes 16 s plus overhead,
	// about 19 s: the delay scheduling paper reports Facebook's map tasks
	// lasting tens of seconds, and the Mesos paper's one-map Facebook jobs
	// took 24 s end to end (task plus job setup). Hadoop-era maps were bound
	// by deserialisation and decompression, not by the disk.
	MapBytesPerSecond float64

	// ReduceBytesPerSecond is how fast a reduce task works through its share
	// of shuffle plus output. Default 8 MiB/s, so a full 1 GiB reducer runs
	// a little over two minutes: reducers were the long tasks of the era
	// (the Mesos paper's 10-map, 2-reduce jobs took 82 s against 31 s for
	// 2-map jobs without reduces).
	ReduceBytesPerSecond float64

	// TaskOverhead is the fixed cost of every task: JVM start, heartbeat
	// wait, setup and commit. Default 3 s, typical of Hadoop 0.20.
	TaskOverhead time.Duration
}

// DefaultTaskModel returns the model described on TaskModel.
func DefaultTaskModel() TaskModel {
	return TaskModel{
		BlockBytes:           64 * MiB,
		BytesPerReduce:       1 * GiB,
		MapBytesPerSecond:    float64(4 * MiB),
		ReduceBytesPerSecond: float64(8 * MiB),
		TaskOverhead:         3 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultTaskModel and rejects values no
// model can use.
func (m TaskModel) withDefaults() (TaskModel, error) {
	d := DefaultTaskModel()
	if m.BlockBytes == 0 {
		m.BlockBytes = d.BlockBytes
	}
	if m.BytesPerReduce == 0 {
		m.BytesPerReduce = d.BytesPerReduce
	}
	if m.MapBytesPerSecond == 0 {
		m.MapBytesPerSecond = d.MapBytesPerSecond
	}
	if m.ReduceBytesPerSecond == 0 {
		m.ReduceBytesPerSecond = d.ReduceBytesPerSecond
	}
	if m.TaskOverhead == 0 {
		m.TaskOverhead = d.TaskOverhead
	}
	var errs []error
	if m.BlockBytes < 0 {
		errs = append(errs, fmt.Errorf("task model: block bytes %d is negative", m.BlockBytes))
	}
	if m.BytesPerReduce < 0 {
		errs = append(errs, fmt.Errorf("task model: bytes per reduce %d is negative", m.BytesPerReduce))
	}
	if !(m.MapBytesPerSecond > 0) || math.IsInf(m.MapBytesPerSecond, 0) {
		errs = append(errs, fmt.Errorf("task model: map bytes per second %v must be positive and finite", m.MapBytesPerSecond))
	}
	if !(m.ReduceBytesPerSecond > 0) || math.IsInf(m.ReduceBytesPerSecond, 0) {
		errs = append(errs, fmt.Errorf("task model: reduce bytes per second %v must be positive and finite", m.ReduceBytesPerSecond))
	}
	if m.TaskOverhead < 0 {
		errs = append(errs, fmt.Errorf("task model: task overhead %v is negative", m.TaskOverhead))
	}
	return m, errors.Join(errs...)
}

// ceilDiv is ceil(a/b) for a >= 0, b > 0, without the overflow of a+b-1.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// fill sets the task counts and durations of j from its bytes. The byte
// fields must be non-negative and shuffle+output must not overflow; the
// readers check both before calling.
func (m TaskModel) fill(j *Job) {
	j.Maps = int(max(ceilDiv(j.InputBytes, m.BlockBytes), 1))
	j.MapDuration = m.taskDuration(j.InputBytes/int64(j.Maps), m.MapBytesPerSecond)
	reduceBytes := j.ShuffleBytes + j.OutputBytes
	if reduceBytes == 0 {
		j.Reduces, j.ReduceDuration = 0, 0
		return
	}
	j.Reduces = int(ceilDiv(reduceBytes, m.BytesPerReduce))
	j.ReduceDuration = m.taskDuration(reduceBytes/int64(j.Reduces), m.ReduceBytesPerSecond)
}

func (m TaskModel) taskDuration(bytes int64, perSecond float64) time.Duration {
	work := time.Duration(math.Round(float64(bytes)/perSecond*1000)) * time.Millisecond
	return m.TaskOverhead + work
}
