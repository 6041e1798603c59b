package agent

import (
	"net/url"
	"path/filepath"
	"strconv"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
)

// Sandboxes live at WorkDir/sandboxes/f-<framework>/e-<executor>-<n>, n
// numbering the executors this agent has started (nextExecSeq). The IDs
// are escaped and bounded (executor.IDName): a command executor's ID is
// "command-" and its task's ID, and a task ID as long as a file name must
// still get a sandbox.

func frameworkDirName(fw mezzo.FrameworkID) string {
	return "f-" + executor.IDName(url.PathEscape(string(fw)), string(fw))
}

// executorDirPrefix is what the names of an executor's sandboxes start
// with; the sandbox number follows.
func executorDirPrefix(ex mezzo.ExecutorID) string {
	return "e-" + executor.IDName(url.PathEscape(string(ex)), string(ex)) + "-"
}

func (a *Agent) sandboxDir(fw mezzo.FrameworkID, ex mezzo.ExecutorID, seq int) string {
	return filepath.Join(a.cfg.WorkDir, sandboxesDir, frameworkDirName(fw), executorDirPrefix(ex)+strconv.Itoa(seq))
}
