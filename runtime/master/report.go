package master

import (
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// What an agent reports when it (re-)registers: the frameworks, tasks and
// executors it runs. The master rebuilds its own state from them
// (recoverFrameworks, adoptable), keeps them and sends them again (a
// framework's info with every launch), so they must keep the bounds a
// scheduler's word is held to (api/limits.go). Every agent may hold the
// same certificate, so a report is no more trusted than a scheduler.
//
// An item out of bounds is dropped with a warning, and the rest of the
// registration applied, rather than the registration refused: no master
// that keeps the bounds launched such an item (they are checked at
// subscription and launch), while the agent's other tasks are real, and
// an agent refused for one bad item would retry the same report forever
// while the master declared all its tasks lost.

// maxReportWarnings bounds the warnings one registration's report gets,
// so a report of thousands of bad items costs a few log lines.
const maxReportWarnings = 10

// vetReport drops from req what no master could have launched: for an
// agent registering for the first time (no agent ID: nothing can have
// been launched on it yet) everything it reports, otherwise the items out
// of bounds. It runs off the loop, before the registration is applied.
func (m *Master) vetReport(req *api.AgentSubscribeRequest) {
	id := req.GetAgent().GetAgentId()
	if id == "" {
		if len(req.Frameworks)+len(req.Tasks)+len(req.Executors) > 0 {
			m.log.Warn("an agent registering for the first time reports frameworks, tasks or executors; ignored: no master launched anything on an agent without an ID",
				"hostname", req.GetAgent().GetHostname(), "frameworks", len(req.Frameworks), "tasks", len(req.Tasks), "executors", len(req.Executors))
			req.Frameworks, req.Tasks, req.Executors = nil, nil, nil
		}
		return
	}
	warned := 0
	drop := func(what string, err error) bool {
		if err == nil {
			return false
		}
		if warned++; warned <= maxReportWarnings {
			m.log.Warn("agent reports "+what+" out of bounds; ignored", "agent", id, "err", err)
		}
		return true
	}
	req.Frameworks = keep(req.Frameworks, func(p *api.FrameworkInfo) bool {
		return !drop("a framework", api.ValidateFrameworkInfo(p))
	})
	req.Tasks = keep(req.Tasks, func(rt *api.RunningTask) bool {
		return !drop("a task", firstErr(
			api.ValidateID("framework ID", rt.GetFrameworkId()),
			api.ValidateID("executor ID", rt.GetExecutorId()),
			validTask(rt.GetTask())))
	})
	req.Executors = keep(req.Executors, func(re *api.RunningExecutor) bool {
		return !drop("an executor", firstErr(
			api.ValidateID("framework ID", re.GetFrameworkId()),
			api.ValidateID("executor ID", re.GetExecutor().GetExecutorId())))
	})
	if warned > maxReportWarnings {
		m.log.Warn("agent reports more items out of bounds; ignored", "agent", id, "not_logged", warned-maxReportWarnings)
	}
}

// keep filters s in place.
func keep[T any](s []T, ok func(T) bool) []T {
	out := s[:0]
	for _, v := range s {
		if ok(v) {
			out = append(out, v)
		}
	}
	clear(s[len(out):])
	return out
}

func validTask(p *api.TaskInfo) error {
	_, err := api.ValidateTaskInfo(p)
	return err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
