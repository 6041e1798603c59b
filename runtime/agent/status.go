package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Status updates are delivered at least once. Each task has a stream: its
// updates in order, the head being the one in flight. The head is resent,
// with doubling backoff, until the scheduler's acknowledgement of its uuid
// comes back through the master; then the next becomes the head. Streams
// live on disk (one small append-only JSON-lines file per task), so an
// agent that restarts resends what was never acknowledged.

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
	file    *os.File        // nil for the in-memory store
	last    mezzo.TaskState // state of the latest update appended
}

// record is one line of a stream file: an update, or the acknowledgement
// of one.
type record struct {
	Framework mezzo.FrameworkID `json:"fw,omitempty"`
	Update    *mezzo.TaskStatus `json:"update,omitempty"`
	Ack       string            `json:"ack,omitempty"`
}

type statusStore struct {
	dir      string // "" keeps streams in memory only (emulated agents)
	log      *slog.Logger
	initial  time.Duration
	maxDelay time.Duration

	mu      sync.Mutex
	streams map[streamKey]*updateStream
	wake    chan struct{}
	closed  bool
}

func newStatusStore(dir string, log *slog.Logger, initial, maxDelay time.Duration) *statusStore {
	return &statusStore{dir: dir, log: log, initial: initial, maxDelay: maxDelay,
		streams: map[streamKey]*updateStream{}, wake: make(chan struct{}, 1)}
}

func (s *statusStore) path(k streamKey) string {
	return filepath.Join(s.dir, "f-"+url.PathEscape(string(k.fw)), "t-"+url.PathEscape(string(k.task))+".jsonl")
}

// load reads the streams a previous run left; unacknowledged updates are
// due at once. It returns the latest update of every stream loaded.
func (s *statusStore) load() (map[streamKey]mezzo.TaskStatus, error) {
	out := map[streamKey]mezzo.TaskStatus{}
	if s.dir == "" {
		return out, nil
	}
	files, err := filepath.Glob(filepath.Join(s.dir, "f-*", "t-*.jsonl"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, name := range files {
		st, latest, err := s.loadFile(name)
		if err != nil {
			return nil, err
		}
		if st == nil {
			continue
		}
		if st.file, err = os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return nil, err
		}
		s.streams[st.key] = st
		out[st.key] = latest
	}
	return out, nil
}

func (s *statusStore) loadFile(name string) (*updateStream, mezzo.TaskStatus, error) {
	var latest mezzo.TaskStatus
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, latest, err
	}
	st := &updateStream{seen: map[string]bool{}, backoff: s.initial}
	lines := strings.Split(string(b), "\n")
	for i, ln := range lines {
		if strings.TrimSpace(ln) == "" {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(ln), &r); err != nil {
			if i == len(lines)-1 {
				// A torn last line is what a crash mid-append leaves; it
				// was never confirmed to the executor, which resends it.
				break
			}
			return nil, latest, fmt.Errorf("status file %s line %d: %v", name, i+1, err)
		}
		switch {
		case r.Update != nil:
			st.key = streamKey{fw: r.Framework, task: r.Update.TaskID}
			st.queue = append(st.queue, *r.Update)
			st.seen[r.Update.UUID] = true
			st.last = r.Update.State
			latest = *r.Update
		case r.Ack != "":
			if len(st.queue) > 0 && st.queue[0].UUID == r.Ack {
				st.queue = st.queue[1:]
			}
		}
	}
	if st.key.task == "" {
		return nil, latest, nil
	}
	return st, latest, nil
}

// debugging says whether streams' steps are logged; checked before
// building the record, which would cost an allocation per update at
// 50,000 emulated agents.
func (s *statusStore) debugging() bool {
	return s.log.Enabled(context.Background(), slog.LevelDebug)
}

// appendUpdate adds an update to its task's stream, on disk first. It
// reports false when the uuid was already appended (an executor retry).
func (s *statusStore) appendUpdate(fw mezzo.FrameworkID, u mezzo.TaskStatus, now time.Time) (bool, error) {
	k := streamKey{fw: fw, task: u.TaskID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, errClosed
	}
	st := s.streams[k]
	if st == nil {
		st = &updateStream{key: k, seen: map[string]bool{}, backoff: s.initial}
		if s.dir != "" {
			p := s.path(k)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return false, err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				return false, err
			}
			st.file = f
		}
		s.streams[k] = st
	}
	if st.seen[u.UUID] {
		return false, nil
	}
	if err := st.write(record{Framework: fw, Update: &u}); err != nil {
		return false, err
	}
	st.seen[u.UUID] = true
	st.last = u.State
	st.queue = append(st.queue, u)
	if s.debugging() {
		s.log.Debug("status update stored", "framework", string(fw), "task", string(u.TaskID), "state", u.State, "uuid", u.UUID, "queued", len(st.queue))
	}
	if len(st.queue) == 1 {
		st.next, st.backoff = now, s.initial
		s.poke()
	}
	return true, nil
}

func (st *updateStream) write(r record) error {
	if st.file == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := st.file.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("status file %s: %w", st.file.Name(), err)
	}
	// fsync is what makes "stored" mean stored across a machine crash.
	return st.file.Sync()
}

// ack pops the head of the stream when uuid matches it; a stream whose task
// is over and whose updates are all acknowledged is removed. It reports
// whether the ack matched.
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
		if st.file != nil {
			_ = st.file.Close()
			return true, os.Remove(st.file.Name())
		}
		return true, nil
	}
	if err := st.write(record{Ack: uuid}); err != nil {
		return true, err
	}
	st.next, st.backoff = now, s.initial
	s.poke()
	return true, nil
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

func (s *statusStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, st := range s.streams {
		if st.file != nil {
			_ = st.file.Close()
		}
	}
}

func (s *statusStore) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

var errClosed = errors.New("agent is shutting down")
