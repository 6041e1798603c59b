package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Status updates are delivered at least once. Each task has a stream: its
// updates in order, the head being the one in flight. The head is resent,
// with doubling backoff, until the scheduler's acknowledgement of its uuid
// comes back through the master; then the next becomes the head. Streams
// live on disk (statusfile.go: one small file of checksummed records per
// task), so an agent that restarts resends what was never acknowledged.
//
// An update the disk refuses (full, out of descriptors, I/O error) is not
// dropped: it is queued and sent like any other, only not durable, and the
// store keeps trying to write it (space may come back). appendUpdate says
// so with a *notStoredError, and the agent then ends the task
// (storefail.go): a task whose updates cannot be kept must not run on as
// if they were.

type streamKey struct {
	fw   mezzo.FrameworkID
	task mezzo.TaskID
}

type updateStream struct {
	key     streamKey
	queue   []mezzo.TaskStatus // queue[0] is the head
	next    time.Time          // when the head is (re)sent
	backoff time.Duration
	seen    map[string]bool // uuids ever appended, so executor retries are no-ops
	last    mezzo.TaskState // state of the latest update appended
	file    streamFile      // zero for the in-memory store
}

// record is one record of a stream file: an update, or the acknowledgement
// of one.
type record struct {
	Framework mezzo.FrameworkID `json:"fw,omitempty"`
	Update    *mezzo.TaskStatus `json:"update,omitempty"`
	Ack       string            `json:"ack,omitempty"`
}

// notStoredError says that an update (or acknowledgement) is queued in
// memory but not on disk, and why.
type notStoredError struct {
	path string
	err  error
}

func (e *notStoredError) Error() string {
	return fmt.Sprintf("status file %s: %v", e.path, e.err)
}

func (e *notStoredError) Unwrap() error { return e.err }

type statusStore struct {
	dir      string // "" keeps streams in memory only (emulated agents)
	log      *slog.Logger
	initial  time.Duration
	maxDelay time.Duration

	mu      sync.Mutex
	streams map[streamKey]*updateStream
	// unstored are the streams with records the disk refused, retried by
	// retryStores.
	unstored map[streamKey]*updateStream
	wake     chan struct{}
	closed   bool
}

func newStatusStore(dir string, log *slog.Logger, initial, maxDelay time.Duration) *statusStore {
	return &statusStore{dir: dir, log: log, initial: initial, maxDelay: maxDelay,
		streams: map[streamKey]*updateStream{}, unstored: map[streamKey]*updateStream{}, wake: make(chan struct{}, 1)}
}

func (s *statusStore) newStream(k streamKey) *updateStream {
	st := &updateStream{key: k, seen: map[string]bool{}, backoff: s.initial}
	if s.dir != "" {
		st.file.path = s.path(k)
	}
	return st
}

// debugging says whether streams' steps are logged; checked before
// building the record, which would cost an allocation per update at
// 50,000 emulated agents.
func (s *statusStore) debugging() bool {
	return s.log.Enabled(context.Background(), slog.LevelDebug)
}

// appendUpdate adds an update to its task's stream and stores it. It
// reports false when the uuid was already appended (an executor retry).
// A *notStoredError means the update is queued, and will be sent, but is
// not on disk (for a retry: still not); any other error means it was not
// taken.
func (s *statusStore) appendUpdate(fw mezzo.FrameworkID, u mezzo.TaskStatus, now time.Time) (bool, error) {
	k := streamKey{fw: fw, task: u.TaskID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, errClosed
	}
	st := s.streams[k]
	if st == nil {
		st = s.newStream(k)
		s.streams[k] = st
	}
	if st.seen[u.UUID] {
		if st.file.pendingUpdate(u.UUID) {
			// A retry of an update the disk refused: try again now.
			return false, s.flushLocked(st, now)
		}
		return false, nil
	}
	st.seen[u.UUID] = true
	st.last = u.State
	st.queue = append(st.queue, u)
	err := s.writeLocked(st, record{Framework: fw, Update: &u}, now)
	if s.debugging() {
		s.log.Debug("status update queued", "framework", string(fw), "task", string(u.TaskID), "state", u.State, "uuid", u.UUID,
			"queued", len(st.queue), "stored", err == nil)
	}
	if len(st.queue) == 1 {
		st.next, st.backoff = now, s.initial
		s.poke()
	}
	return true, err
}

// writeLocked stores r behind the stream's earlier records; records the
// disk refused before go first, so the file keeps their order.
func (s *statusStore) writeLocked(st *updateStream, r record, now time.Time) error {
	if st.file.path == "" {
		return nil
	}
	st.file.pending = append(st.file.pending, r)
	return s.flushLocked(st, now)
}

// flushLocked writes the stream's pending records. On failure they stay
// pending, and retryStores tries again with backoff.
func (s *statusStore) flushLocked(st *updateStream, now time.Time) error {
	if len(st.file.pending) == 0 {
		return nil
	}
	err := st.file.store()
	if err == nil {
		if _, was := s.unstored[st.key]; was {
			delete(s.unstored, st.key)
			s.log.Info("status updates stored after all", "framework", string(st.key.fw), "task", string(st.key.task), "file", st.file.path)
		}
		st.file.retryAt, st.file.retryDelay = time.Time{}, 0
		return nil
	}
	if _, was := s.unstored[st.key]; !was {
		s.unstored[st.key] = st
		s.log.Error("status update not stored; it is kept in memory and sent, and storing it is retried",
			"framework", string(st.key.fw), "task", string(st.key.task), "file", st.file.path, "err", err)
	}
	st.file.retryDelay = min(max(2*st.file.retryDelay, s.initial), s.maxDelay)
	st.file.retryAt = now.Add(st.file.retryDelay)
	s.poke()
	return &notStoredError{path: st.file.path, err: err}
}

// retryStores tries again to store the records the disk refused, for the
// streams whose retry is due, and returns when the next one is (zero:
// none is waiting).
func (s *statusStore) retryStores(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]streamKey, 0, len(s.unstored))
	for k := range s.unstored {
		keys = append(keys, k)
	}
	sortKeys(keys)
	var next time.Time
	for _, k := range keys {
		st := s.unstored[k]
		if !st.file.retryAt.After(now) {
			_ = s.flushLocked(st, now)
		}
		if _, still := s.unstored[k]; still && (next.IsZero() || st.file.retryAt.Before(next)) {
			next = st.file.retryAt
		}
	}
	return next
}

// unstoredCount is the number of records held in memory only.
func (s *statusStore) unstoredCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.unstored {
		n += len(st.file.pending)
	}
	return n
}

// ack pops the head of the stream when uuid matches it; a stream whose task
// is over and whose updates are all acknowledged is removed. It reports
// whether the ack matched; an error says the acknowledgement is not on
// disk (a restarted agent would resend the update once more).
func (s *statusStore) ack(fw mezzo.FrameworkID, task mezzo.TaskID, uuid string, now time.Time) (bool, error) {
	k := streamKey{fw: fw, task: task}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[k]
	if st == nil || len(st.queue) == 0 || st.queue[0].UUID != uuid {
		if s.debugging() {
			s.log.Debug("acknowledgement of no update in flight; ignored", "framework", string(fw), "task", string(task), "uuid", uuid)
		}
		return false, nil
	}
	if s.debugging() {
		s.log.Debug("status update acknowledged", "framework", string(fw), "task", string(task), "uuid", uuid, "state", st.queue[0].State)
	}
	st.queue = st.queue[1:]
	if len(st.queue) == 0 && st.last.Terminal() {
		delete(s.streams, k)
		delete(s.unstored, k)
		return true, st.file.remove()
	}
	err := s.writeLocked(st, record{Ack: uuid}, now)
	st.next, st.backoff = now, s.initial
	s.poke()
	return true, err
}

type dueUpdate struct {
	fw     mezzo.FrameworkID
	status mezzo.TaskStatus
}

// due returns the heads to send now, pushing each one's next time back by
// its backoff (doubling up to the cap), and the time of the next due head.
func (s *statusStore) due(now time.Time) ([]dueUpdate, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []dueUpdate
	var next time.Time
	for _, st := range s.streams {
		if len(st.queue) == 0 {
			continue
		}
		if !st.next.After(now) {
			out = append(out, dueUpdate{fw: st.key.fw, status: st.queue[0]})
			st.next = now.Add(st.backoff)
			st.backoff = min(2*st.backoff, s.maxDelay)
		}
		if next.IsZero() || st.next.Before(next) {
			next = st.next
		}
	}
	// Map order is random; send in a stable order so runs are comparable.
	sort.Slice(out, func(i, j int) bool {
		if out[i].fw != out[j].fw {
			return out[i].fw < out[j].fw
		}
		return out[i].status.TaskID < out[j].status.TaskID
	})
	return out, next
}

// resendAll makes every head due now (after re-registering with a master).
func (s *statusStore) resendAll(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		st.next, st.backoff = now, s.initial
	}
	s.poke()
}

// pending reports the unacknowledged updates of a task (tests, and a task's
// presence in re-registration).
func (s *statusStore) pending(fw mezzo.FrameworkID, task mezzo.TaskID) []mezzo.TaskStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[streamKey{fw, task}]; st != nil {
		return append([]mezzo.TaskStatus(nil), st.queue...)
	}
	return nil
}

// close makes a last attempt at what the disk refused; what is still
// refused is lost with this run, and said so.
func (s *statusStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, st := range s.unstored {
		if err := st.file.store(); err != nil {
			s.log.Error("status records never stored; a restarted agent will not resend them", "framework", string(st.key.fw),
				"task", string(st.key.task), "file", st.file.path, "records", len(st.file.pending), "err", err)
		}
	}
}

func (s *statusStore) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func sortKeys(keys []streamKey) {
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].fw < keys[j].fw || keys[i].fw == keys[j].fw && keys[i].task < keys[j].task
	})
}

var errClosed = errors.New("agent is shutting down")
