package mezzo

import (
	"fmt"
	"time"
)

// CommandInfo is a program to run: a shell command line when Shell is true,
// otherwise Value is the executable and Args its arguments.
type CommandInfo struct {
	Value string
	Args  []string
	Shell bool
	Env   []string // KEY=VALUE
	User  string   // OS user to run as; empty means the framework's user
}

// ExecutorInfo names a custom executor. Kind names the executor in the
// registry both worlds share (for example "pi"): the simulator runs that
// [Executor] in-process, the runtime starts it as a process through Command.
type ExecutorInfo struct {
	ID        ExecutorID
	Name      string
	Kind      string
	Command   *CommandInfo
	Resources Resources
}

// TaskInfo is a task a framework launches on an offer.
type TaskInfo struct {
	ID        TaskID
	Name      string
	AgentID   AgentID
	Resources Resources
	// Exactly one of Command and Executor says what runs. With neither, the
	// task stands for Duration of work: the runtime sleeps that long, the
	// simulator models it.
	Command  *CommandInfo
	Executor *ExecutorInfo
	// Data is handed to the executor with the task.
	Data []byte
	// Duration is the task's running time at base speed when it stands for
	// modelled work (simulated jobs, benchmarks); 0 for real programs.
	Duration time.Duration
	// Input names the data blocks the task reads, for data locality: the
	// simulator slows a task whose blocks live on other agents.
	Input []string
	// Labels are free-form key/value pairs for the framework's own use.
	Labels map[string]string
}

// TaskState is where a task is in its life.
type TaskState int

// Task states, as in Mesos. A task ends in exactly one terminal state.
const (
	TaskStaging TaskState = iota
	TaskStarting
	TaskRunning
	TaskFinished
	TaskFailed
	TaskKilled
	TaskLost
	TaskError
	TaskDropped
	TaskUnreachable
	TaskGone
	TaskKilling
	taskStateCount
)

var taskStateNames = [...]string{
	TaskStaging:     "TASK_STAGING",
	TaskStarting:    "TASK_STARTING",
	TaskRunning:     "TASK_RUNNING",
	TaskFinished:    "TASK_FINISHED",
	TaskFailed:      "TASK_FAILED",
	TaskKilled:      "TASK_KILLED",
	TaskLost:        "TASK_LOST",
	TaskError:       "TASK_ERROR",
	TaskDropped:     "TASK_DROPPED",
	TaskUnreachable: "TASK_UNREACHABLE",
	TaskGone:        "TASK_GONE",
	TaskKilling:     "TASK_KILLING",
}

func (s TaskState) String() string {
	if s >= 0 && s < taskStateCount {
		return taskStateNames[s]
	}
	return fmt.Sprintf("TaskState(%d)", int(s))
}

// ParseTaskState reads a state name such as "TASK_RUNNING" (or "running").
func ParseTaskState(name string) (TaskState, error) {
	for i, n := range taskStateNames {
		if n == name || n == "TASK_"+upper(name) {
			return TaskState(i), nil
		}
	}
	return 0, fmt.Errorf("unknown task state %q", name)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Terminal reports whether the task has ended. TASK_UNREACHABLE is not
// terminal: the agent may come back.
func (s TaskState) Terminal() bool {
	switch s {
	case TaskFinished, TaskFailed, TaskKilled, TaskLost, TaskError, TaskDropped, TaskGone:
		return true
	}
	return false
}

// Reason says why a task changed state, when the state alone does not.
type Reason string

// Reasons mezzo reports.
const (
	ReasonNone                Reason = ""
	ReasonAgentLost           Reason = "REASON_AGENT_REMOVED"
	ReasonAgentRestarted      Reason = "REASON_AGENT_RESTARTED"
	ReasonMemoryLimit         Reason = "REASON_CONTAINER_LIMITATION_MEMORY"
	ReasonDiskLimit           Reason = "REASON_CONTAINER_LIMITATION_DISK"
	ReasonCommandExited       Reason = "REASON_COMMAND_EXECUTOR_FAILED"
	ReasonInvalidOffers       Reason = "REASON_INVALID_OFFERS"
	ReasonTaskInvalid         Reason = "REASON_TASK_INVALID"
	ReasonResourcesUnknown    Reason = "REASON_RESOURCES_UNKNOWN"
	ReasonExecutorTerminated  Reason = "REASON_EXECUTOR_TERMINATED"
	ReasonFrameworkRemoved    Reason = "REASON_FRAMEWORK_REMOVED"
	ReasonKilledByScheduler   Reason = "REASON_TASK_KILLED_DURING_LAUNCH"
	ReasonReconciliation      Reason = "REASON_RECONCILIATION"
	ReasonTaskUnknown         Reason = "REASON_TASK_UNKNOWN"
	ReasonAgentUnreachable    Reason = "REASON_AGENT_UNREACHABLE"
	ReasonContainerLaunchFail Reason = "REASON_CONTAINER_LAUNCH_FAILED"
	ReasonMasterDisconnected  Reason = "REASON_MASTER_DISCONNECTED"
)

// TaskStatus is one state change of a task, as reported to its framework.
type TaskStatus struct {
	TaskID     TaskID
	AgentID    AgentID
	ExecutorID ExecutorID
	State      TaskState
	Reason     Reason
	Message    string
	// Data carries a result from the executor (the π estimate, say).
	Data []byte
	Time time.Time
	// UUID identifies an update that must be acknowledged; empty for
	// updates that need none (reconciliation answers, master-generated).
	UUID string
}
