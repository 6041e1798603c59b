package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// Stream files. Each task's stream is one file,
// WorkDir/status/<name>.updates, <name> being the hex SHA-256 of the
// framework and task IDs: a fixed length whatever the IDs (a task ID may
// be as long as a file name, and escaping can triple it), and no ID can
// name a path. The IDs live inside the records.
//
// A file is a sequence of records, one per line: eight hex digits of the
// CRC-32C of the JSON that follows, a space, the JSON of a record, a
// newline. The first write of a stream creates its file whole (written to
// a temporary file, fsynced, renamed, directory fsynced); later ones are
// written exactly at the end of the last record stored and fsynced. A
// record counts as stored only then. A write that fails is cut off again,
// and every write first cuts whatever follows the last record stored, so
// nothing is ever appended to a torn record. No descriptor stays open
// between writes: thousands of tasks hold none.
//
// Loading tells the two kinds of damage apart:
//
//   - A torn tail (a crash or a full disk mid-write): the last records are
//     incomplete or fail their checksum, and no valid record follows.
//     Nothing in it was confirmed to anyone (an executor resends an update
//     the agent never confirmed; the agent regenerates its own), so it is
//     cut off (truncate, fsync), logged, and the file loads.
//   - A damaged record followed by valid ones, or records of another
//     stream (bit rot, a foreign write): what the task's updates were is
//     unknown. The file is moved aside to <file>.<time>.corrupt, kept for
//     inspection, with an error naming it, and the agent starts without
//     the stream: it does not report the task on re-registration, so the
//     master declares it TASK_LOST (REASON_AGENT_RESTARTED) if it still
//     thought it live, and a framework reconciling hears the master's
//     state, as in Mesos for a task its agent no longer reports. An
//     executor that still runs the task keeps it (recover.go), and its
//     next updates start a new stream.
//
// Files of the previous format (WorkDir/status/f-<framework>/t-<task>.jsonl,
// plain JSON lines) are read, torn tails and damage handled the same way,
// and rewritten in this format; the old file is removed once the new one
// holds its records.

const (
	streamExt  = ".updates"
	corruptExt = ".corrupt"
	tmpExt     = ".tmp"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (s *statusStore) path(k streamKey) string {
	return filepath.Join(s.dir, streamName(k)+streamExt)
}

// streamName digests a stream's IDs, the framework's preceded by its
// length so that no two pairs of IDs read the same.
func streamName(k streamKey) string {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(k.fw)))
	h.Write(n[:])
	h.Write([]byte(k.fw))
	h.Write([]byte(k.task))
	return hex.EncodeToString(h.Sum(nil))
}

// streamFile is where a stream is stored.
type streamFile struct {
	path    string   // "" for the in-memory store
	size    int64    // the end of the last record stored
	pending []record // records not stored yet (the disk refused them), in order
	// retryAt and retryDelay pace the retries of pending records.
	retryAt    time.Time
	retryDelay time.Duration
	// legacy is a file of the previous format this stream was read from,
	// removed once this one holds its records.
	legacy string
}

// pendingUpdate says whether the update with uuid is among the records
// not stored yet.
func (f *streamFile) pendingUpdate(uuid string) bool {
	for _, r := range f.pending {
		if r.Update != nil && r.Update.UUID == uuid {
			return true
		}
	}
	return false
}

// store writes the pending records; on success none is pending.
func (f *streamFile) store() error {
	if f.path == "" || len(f.pending) == 0 {
		return nil
	}
	var buf []byte
	for _, r := range f.pending {
		var err error
		if buf, err = appendRecord(buf, r); err != nil {
			return err
		}
	}
	var err error
	if f.size == 0 {
		err = writeFileAtomic(f.path, buf)
	} else {
		err = writeAtEnd(f.path, f.size, buf)
	}
	if err != nil {
		return err
	}
	f.size += int64(len(buf))
	f.pending = nil
	if f.legacy != "" {
		removeLegacy(f.legacy)
		f.legacy = ""
	}
	return nil
}

// remove deletes the stream's files (its task is over and acknowledged).
func (f *streamFile) remove() error {
	if f.path == "" {
		return nil
	}
	if f.legacy != "" {
		removeLegacy(f.legacy)
	}
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// writeAtEnd writes data at offset end of path, cutting first whatever an
// earlier failed write left beyond it, and again on failure.
func writeAtEnd(path string, end int64, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() != end {
		err = f.Truncate(end)
	}
	if err == nil {
		_, err = f.WriteAt(data, end)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Truncate(end)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func appendRecord(b []byte, r record) ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return b, err
	}
	b = fmt.Appendf(b, "%08x ", crc32.Checksum(js, castagnoli))
	b = append(b, js...)
	return append(b, '\n'), nil
}

// valid says whether r is a record the writer could have written.
func (r record) valid() bool {
	if r.Update != nil {
		return r.Ack == "" && r.Framework != "" && r.Update.TaskID != "" && r.Update.UUID != ""
	}
	return r.Ack != ""
}

// decodeRecord reads one line (without its newline) of the current format.
func decodeRecord(line []byte) (record, bool) {
	var r record
	if len(line) < 10 || line[8] != ' ' {
		return r, false
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil || uint32(sum) != crc32.Checksum(line[9:], castagnoli) {
		return r, false
	}
	if json.Unmarshal(line[9:], &r) != nil || !r.valid() {
		return record{}, false
	}
	return r, true
}

// decodeLegacyRecord reads one line of the previous format. Its writer
// appended after a torn last line, making one line of a torn record and a
// whole one; the whole one is the record (it was confirmed), the torn one
// never was.
func decodeLegacyRecord(line []byte) (record, bool) {
	for i := range line {
		if line[i] != '{' {
			continue
		}
		var r record
		if json.Unmarshal(line[i:], &r) == nil && r.valid() {
			return r, true
		}
	}
	return record{}, false
}

// scanRecords splits a file into records. It returns the records before the
// first damaged one and the offset just past them; corrupt is the line
// number of a damaged record that valid ones follow (0: none, any damage
// is a torn tail).
func scanRecords(b []byte, decode func([]byte) (record, bool)) (recs []record, end int, corrupt int) {
	off, lineNo, damaged := 0, 0, 0
	for off < len(b) {
		nl := bytes.IndexByte(b[off:], '\n')
		if nl < 0 {
			break // an unterminated last line: torn
		}
		line := b[off : off+nl]
		off += nl + 1
		lineNo++
		if len(line) == 0 {
			if damaged == 0 {
				end = off
			}
			continue
		}
		r, ok := decode(line)
		switch {
		case !ok && damaged == 0:
			damaged = lineNo
		case ok && damaged != 0:
			return recs, end, damaged
		case ok:
			recs, end = append(recs, r), off
		}
	}
	return recs, end, 0
}

// replay rebuilds a stream from its records; it returns nil for none, and
// an error for records no writer of one stream could have written.
func (s *statusStore) replay(recs []record) (*updateStream, mezzo.TaskStatus, error) {
	var latest mezzo.TaskStatus
	if len(recs) == 0 {
		return nil, latest, nil
	}
	if recs[0].Update == nil {
		return nil, latest, errors.New("the first record is not an update")
	}
	st := s.newStream(streamKey{fw: recs[0].Framework, task: recs[0].Update.TaskID})
	for i, r := range recs {
		switch {
		case r.Update != nil:
			if k := (streamKey{fw: r.Framework, task: r.Update.TaskID}); k != st.key {
				return nil, latest, fmt.Errorf("record %d is of task %q of framework %q, not of task %q of framework %q",
					i+1, k.task, k.fw, st.key.task, st.key.fw)
			}
			if !st.seen[r.Update.UUID] {
				st.queue = append(st.queue, *r.Update)
				st.seen[r.Update.UUID] = true
			}
			st.last = r.Update.State
			latest = *r.Update
		case len(st.queue) > 0 && st.queue[0].UUID == r.Ack:
			st.queue = st.queue[1:]
		}
	}
	return st, latest, nil
}

// load reads the streams a previous run left; unacknowledged updates are
// due at once. It returns the latest update of every stream loaded. A
// damaged file never stops it (see the top of this file).
func (s *statusStore) load() map[streamKey]mezzo.TaskStatus {
	out := map[streamKey]mezzo.TaskStatus{}
	if s.dir == "" {
		return out
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// What a crash left of a first write: never confirmed.
	tmps, _ := filepath.Glob(filepath.Join(s.dir, "*"+streamExt+tmpExt))
	for _, f := range tmps {
		_ = os.Remove(f)
	}
	files, _ := filepath.Glob(filepath.Join(s.dir, "*"+streamExt))
	sort.Strings(files)
	for _, name := range files {
		if st, latest := s.loadFile(name, false); st != nil {
			s.streams[st.key], out[st.key] = st, latest
		}
	}
	legacy, _ := filepath.Glob(filepath.Join(s.dir, "f-*", "t-*.jsonl"))
	sort.Strings(legacy)
	for _, name := range legacy {
		if st, latest := s.loadFile(name, true); st != nil {
			s.streams[st.key], out[st.key] = st, latest
		}
	}
	return out
}

// loadFile reads one stream file, cutting a torn tail and moving a corrupt
// file aside; it returns nil when there is no stream to load.
func (s *statusStore) loadFile(name string, legacy bool) (*updateStream, mezzo.TaskStatus) {
	var none mezzo.TaskStatus
	b, err := os.ReadFile(name)
	if err != nil {
		s.moveAside(name, nil, fmt.Sprintf("unreadable: %v", err))
		return nil, none
	}
	decode := decodeRecord
	if legacy {
		decode = decodeLegacyRecord
	}
	recs, end, corrupt := scanRecords(b, decode)
	st, latest, err := s.replay(recs)
	switch {
	case corrupt > 0:
		s.moveAside(name, recs, fmt.Sprintf("line %d is damaged and valid records follow it", corrupt))
		return nil, none
	case err != nil:
		s.moveAside(name, recs, err.Error())
		return nil, none
	case st != nil && !legacy && filepath.Base(name) != streamName(st.key)+streamExt:
		s.moveAside(name, recs, fmt.Sprintf("its records are of task %q of framework %q, whose file this is not", st.key.task, st.key.fw))
		return nil, none
	}
	if end < len(b) {
		s.log.Warn("status file ends in a torn record (a crash or a full disk mid-write); cut off", "file", name,
			"kept_bytes", end, "cut_bytes", len(b)-end)
		if !legacy {
			if err := truncateSynced(name, int64(end)); err != nil {
				s.log.Error("cutting a torn record off a status file; the next write cuts it", "file", name, "err", err)
			}
		}
	}
	if st == nil {
		// Not one whole record: nothing was ever confirmed from it.
		if legacy {
			removeLegacy(name)
		} else {
			_ = os.Remove(name)
		}
		return nil, none
	}
	if !legacy {
		st.file.size = int64(end)
		return st, latest
	}
	if s.streams[st.key] != nil {
		// Rewritten already by a run that stopped before removing it.
		removeLegacy(name)
		return nil, none
	}
	st.file.legacy = name
	st.file.pending = recs
	if err := s.flushLocked(st, time.Now()); err != nil {
		s.log.Error("status file of the previous format not rewritten; its updates are loaded and the rewrite is retried",
			"file", name, "err", err)
	} else {
		s.log.Info("status file rewritten in the current format", "from", name, "to", st.file.path)
	}
	return st, latest
}

// moveAside renames a damaged status file out of the loader's way, kept
// for inspection.
func (s *statusStore) moveAside(name string, recs []record, why string) {
	aside := name + "." + time.Now().UTC().Format("20060102T150405.000000000") + corruptExt
	attrs := []any{"file", name, "why", why}
	if len(recs) > 0 && recs[0].Update != nil {
		attrs = append(attrs, "framework", string(recs[0].Framework), "task", string(recs[0].Update.TaskID))
	}
	if err := os.Rename(name, aside); err != nil {
		s.log.Error("damaged status file, not loaded, and it cannot be moved aside", append(attrs, "err", err)...)
		return
	}
	s.log.Error("damaged status file moved aside and not loaded: this agent does not know the task's updates and does not report it, so the master declares it lost",
		append(attrs, "moved_to", aside)...)
}

func truncateSynced(name string, size int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeLegacy removes a file of the previous format and its framework's
// directory once empty.
func removeLegacy(name string) {
	_ = os.Remove(name)
	_ = os.Remove(filepath.Dir(name)) // fails while it holds other files
}
