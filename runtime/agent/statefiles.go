package agent

import (
	"log/slog"
	"sort"
	"sync"
	"time"
)

// The small files a restarted agent depends on: its identity (identity.go;
// without its secret the master refuses it), the newest master epoch
// (without it a restarted agent takes commands from a deposed master), the
// ExecutorAPI's address and the executors' checkpoints (recover.go; without
// them a restarted agent cannot take its executors back). Each is written
// whole (writeFileAtomic). A write the disk refuses (full, out of
// descriptors, an I/O error) is not forgotten: the agent keeps what the
// file is to hold, logs the failure once and what a restart would cost
// meanwhile, and writes it again at each registration with a master,
// from resendLoop with the backoff of status stores (Config.StatusRetry
// doubling up to StatusRetryMax), and a last time when Run returns. A
// later write of the same file replaces the one waiting.

// stateFiles holds the writes the disk refused until they succeed. It is
// safe for concurrent use; writes run under its lock, which is taken
// after Agent.mu when both are held (checkpointLocked), never before.
type stateFiles struct {
	log      *slog.Logger
	initial  time.Duration
	maxDelay time.Duration
	wake     func() // makes resendLoop look at retry again

	mu      sync.Mutex
	pending map[string]stateWrite // by file
	retryAt time.Time
	delay   time.Duration
}

type stateWrite struct {
	cost  string // what a restart before the write costs, for the log
	write func() error
	err   error // the latest failure
}

func newStateFiles(log *slog.Logger, initial, maxDelay time.Duration, wake func()) *stateFiles {
	return &stateFiles{log: log, initial: initial, maxDelay: maxDelay, wake: wake, pending: map[string]stateWrite{}}
}

// put writes file now with write, and if that fails keeps write to retry
// until it succeeds (or a later put or drop of the same file replaces
// it). cost says what a restart before it succeeds would cost.
func (s *stateFiles) put(file, cost string, write func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, failing := s.pending[file]
	err := write()
	if err == nil {
		if failing {
			delete(s.pending, file)
			s.log.Info("agent state file stored after all", "file", file)
		}
		return nil
	}
	s.pending[file] = stateWrite{cost: cost, write: write, err: err}
	if !failing {
		// Once per failure streak: retries fail silently until one works.
		s.log.Error("agent state file not stored; kept in memory and retried: until it is stored, "+cost, "file", file, "err", err)
	}
	if s.retryAt.IsZero() {
		s.delay = s.initial
		s.retryAt = time.Now().Add(s.delay)
		s.wake()
	}
	return err
}

// drop forgets a write still waiting for file (it is being removed).
func (s *stateFiles) drop(file string) {
	s.mu.Lock()
	delete(s.pending, file)
	s.mu.Unlock()
}

// retry writes the waiting files if their retry is due, and returns when
// the next retry is (zero: nothing waits).
func (s *stateFiles) retry(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 || now.Before(s.retryAt) {
		return s.retryAt
	}
	if s.flushLocked() {
		s.delay = min(2*s.delay, s.maxDelay)
		s.retryAt = now.Add(s.delay)
	}
	return s.retryAt
}

// flush writes the waiting files now, whatever the backoff (a new session
// with a master: the disk may have been freed meanwhile).
func (s *stateFiles) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

// flushLocked tries every waiting write, in the order of their files, and
// reports whether any still fails.
func (s *stateFiles) flushLocked() bool {
	for _, f := range s.files() {
		w := s.pending[f]
		if w.err = w.write(); w.err != nil {
			s.pending[f] = w
			continue
		}
		delete(s.pending, f)
		s.log.Info("agent state file stored after all", "file", f)
	}
	if len(s.pending) == 0 {
		s.retryAt, s.delay = time.Time{}, 0
		return false
	}
	return true
}

// close makes a last attempt (Run is returning); what still fails is lost
// with this run, and said so.
func (s *stateFiles) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	for _, f := range s.files() {
		w := s.pending[f]
		s.log.Error("agent state file never stored; "+w.cost, "file", f, "err", w.err)
	}
}

// files are the files waiting, in order; the caller holds s.mu.
func (s *stateFiles) files() []string {
	files := make([]string, 0, len(s.pending))
	for f := range s.pending {
		files = append(files, f)
	}
	sort.Strings(files)
	return files
}
