package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
)

// TestMain doubles as the executor binary (MEZZO_TEST_EXECUTOR=1: the agent
// re-executes the test binary as `agent.test executor --kind K`) and as a
// memory hog task (MEZZO_TEST_HOG=1).
func TestMain(m *testing.M) {
	if os.Getenv("MEZZO_TEST_HOG") == "1" {
		hog()
		os.Exit(0)
	}
	if os.Getenv("MEZZO_TEST_EXECUTOR") == "1" {
		kind := ""
		for i, a := range os.Args {
			if a == "--kind" && i+1 < len(os.Args) {
				kind = os.Args[i+1]
			}
		}
		err := executor.RunKind(context.Background(), kind, testRegistry())
		if err != nil {
			fmt.Fprintln(os.Stderr, "executor:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testRegistry() map[string]func() mezzo.Executor {
	return map[string]func() mezzo.Executor{
		CommandKind: func() mezzo.Executor { return executor.NewCommand() },
		"upper":     func() mezzo.Executor { return upperExecutor{} },
		"sleeper":   func() mezzo.Executor { return sleeperExecutor{} },
	}
}

// sleeperExecutor runs each task until it is killed: tasks share its
// container and end one at a time.
type sleeperExecutor struct{}

func (sleeperExecutor) Registered(mezzo.ExecutorDriver, mezzo.ExecutorInfo, mezzo.FrameworkID, mezzo.AgentID) {
}
func (sleeperExecutor) LaunchTask(d mezzo.ExecutorDriver, t mezzo.TaskInfo) {
	_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: t.ID, State: mezzo.TaskRunning})
}
func (sleeperExecutor) KillTask(d mezzo.ExecutorDriver, id mezzo.TaskID) {
	_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: id, State: mezzo.TaskKilled})
}
func (sleeperExecutor) FrameworkMessage(mezzo.ExecutorDriver, []byte) {}
func (sleeperExecutor) Shutdown(d mezzo.ExecutorDriver)               { _ = d.Stop() }

// hog touches 512 MB, far past any test limit, then lingers.
func hog() {
	var keep [][]byte
	for range 512 {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	time.Sleep(time.Second)
	_ = keep
}

// upperExecutor finishes each task with its data upper-cased and the pid of
// the executor process, so tests can tell whether an executor was reused.
type upperExecutor struct{}

func (upperExecutor) Registered(mezzo.ExecutorDriver, mezzo.ExecutorInfo, mezzo.FrameworkID, mezzo.AgentID) {
}
func (upperExecutor) LaunchTask(d mezzo.ExecutorDriver, t mezzo.TaskInfo) {
	_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: t.ID, State: mezzo.TaskRunning})
	_ = d.SendStatusUpdate(mezzo.TaskStatus{TaskID: t.ID, State: mezzo.TaskFinished,
		Data: []byte(strings.ToUpper(string(t.Data))), Message: fmt.Sprintf("pid %d", os.Getpid())})
}
func (upperExecutor) KillTask(d mezzo.ExecutorDriver, id mezzo.TaskID) {}
func (upperExecutor) FrameworkMessage(mezzo.ExecutorDriver, []byte)    {}
func (upperExecutor) Shutdown(d mezzo.ExecutorDriver)                  { _ = d.Stop() }
