package isolation

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Small helpers over the cgroup file system, shared by v1 and v2. A task
// running as root may create cgroups below its own, so everything that
// lists or removes walks the whole subtree.

// subdirs lists the directories directly inside dir (none if dir is absent).
func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// pidsUnder lists the processes in the cgroup at dir and its descendants.
func pidsUnder(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, os.ErrNotExist) {
				return nil // a child cgroup went away meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if p != dir && errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("%s/cgroup.procs: bad pid %q", p, f)
			}
			pids = append(pids, pid)
		}
		return nil
	})
	return pids, err
}

// removeTree removes the cgroup at dir and the cgroups below it, deepest
// first. rmdir of a cgroup whose last process just died can fail with EBUSY
// for a moment, so it retries briefly. A missing dir is not an error.
func removeTree(dir string) error {
	subs, err := subdirs(dir)
	if err != nil {
		return err
	}
	for _, s := range subs {
		if err := removeTree(filepath.Join(dir, s)); err != nil {
			return err
		}
	}
	delay := time.Millisecond
	for i := 0; ; i++ {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || i == 10 {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(delay)
		delay *= 2
	}
}

func readInt(file string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return v, nil
}

// readKeyed reads the value of key in a flat-keyed file such as
// memory.events ("oom_kill 1"). A missing key reads as 0: older kernels
// lack some counters.
func readKeyed(file, key string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), " ")
		if !ok || k != key {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %w", file, key, err)
		}
		return n, nil
	}
	return 0, s.Err()
}
