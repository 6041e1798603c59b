package executor

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

// Task output is rotated, as Mesos's LogrotateContainerLogger does, so a
// task that runs for months, or writes without end, keeps its recent
// output in a bounded number of bounded files instead of filling the disk.

// Defaults of Command.LogMaxSize and Command.LogMaxFiles (the agent's
// --container-log-max-size and --container-log-max-files).
const (
	DefaultLogMaxSize  = 10 << 20
	DefaultLogMaxFiles = 2
)

// rotatingFile is a writer to path that never lets the file grow past
// maxSize bytes: the write that would is split, path is renamed path.1
// (path.1 to path.2, and so on; the oldest beyond maxFiles is removed),
// and a fresh path takes the rest. So path always holds the latest
// output, path.1 what came just before it, and the files, oldest first,
// concatenate to the tail of the stream. It is safe for concurrent use;
// concurrent writes are not interleaved within one call.
type rotatingFile struct {
	path     string
	maxSize  int64
	maxFiles int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// newRotatingFile creates (or truncates) path.
func newRotatingFile(path string, maxSize int64, maxFiles int) (*rotatingFile, error) {
	if maxSize <= 0 || maxFiles < 1 {
		return nil, fmt.Errorf("executor: output %s: max size %d and max files %d: want both positive", path, maxSize, maxFiles)
	}
	f, err := createOutput(path)
	if err != nil {
		return nil, err
	}
	return &rotatingFile{path: path, maxSize: maxSize, maxFiles: maxFiles, f: f}, nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	written := 0
	for len(p) > 0 {
		if r.size >= r.maxSize {
			if err := r.rotate(); err != nil {
				return written, err
			}
		}
		chunk := p[:min(int64(len(p)), r.maxSize-r.size)]
		n, err := r.f.Write(chunk)
		written += n
		r.size += int64(n)
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// rotate shifts the kept files by one and starts path afresh; the caller
// holds r.mu.
func (r *rotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return err
	}
	r.f = nil
	name := func(i int) string { return r.path + "." + strconv.Itoa(i) }
	if err := os.Remove(name(r.maxFiles)); err != nil && !os.IsNotExist(err) {
		return err
	}
	for i := r.maxFiles - 1; i >= 1; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if err := os.Rename(r.path, name(1)); err != nil {
		return err
	}
	f, err := createOutput(r.path)
	if err != nil {
		return err
	}
	r.f, r.size = f, 0
	return nil
}

func (r *rotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
