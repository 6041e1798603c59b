package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mezzo-cluster/mezzo"
)

// The work directory's modes. Tasks of other users must reach their own
// sandbox, and nothing else:
//
//	WorkDir/                          0711 root (0700 when the agent is not root)
//	  sandboxes/                      0711
//	    f-FRAMEWORK/                  0711
//	      e-EXECUTOR-N/               0700, the container's host uid while it
//	        stdout, stderr,             runs; root's once its executor is reaped
//	        agent-ca.crt,             0600, the container's
//	        task-ID.stdout/.stderr    0600 (written by the command executor)
//	  everything else                 0600 files, 0700 directories, root's:
//	                                  agent-id, master-epoch, status/,
//	                                  executors/ (checkpoints hold tokens),
//	                                  executor-ca.key, executor-ca.crt, ...
//
// 0711 lets a task traverse to the sandbox it knows the path of without
// listing the others; a sandbox of another container is closed to it
// (its own uid only). The agent's HTTP server, root, serves them all to
// whom the ACL allows. New tightens what an earlier version made looser.
const sandboxesDir = "sandboxes"

// checkWorkDir refuses a work directory that every user may write in
// (/tmp, say): anyone could plant files where the agent keeps its own, and
// the agent would close it to everyone else.
func checkWorkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st.Mode()&0o002 != 0 {
		return fmt.Errorf("agent: work dir %s is writable by every user (mode %v): give the agent a directory of its own", dir, st.Mode().Perm())
	}
	return nil
}

// liveSandboxes are the sandboxes of the executors the agent has: those
// it started and has not reaped, and those of a previous run it adopted
// (recover.go). No other sandbox is written to, and none of them may be
// closed to its container or removed.
func (a *Agent) liveSandboxes() map[string]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]bool{}
	for _, fw := range a.frameworks {
		for _, ex := range fw.executors {
			out[ex.sandbox] = true
		}
	}
	for _, ex := range a.adopted {
		out[ex.sandbox] = true
	}
	return out
}

// traverseMode is the mode of the directories above the sandboxes.
func traverseMode() os.FileMode {
	if os.Geteuid() == 0 {
		return 0o711
	}
	return 0o700 // tasks run as the agent itself
}

// mkdirMode makes dir with exactly mode (the umask would take bits off);
// an existing directory is left as it is (New has tightened it).
func mkdirMode(dir string, mode os.FileMode) error {
	if err := os.Mkdir(dir, mode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	return os.Chmod(dir, mode)
}

// newSandbox makes a fresh sandbox directory for an executor, 0700 and
// still root's (startExecutorLocked hands it to the container's user).
func (a *Agent) newSandbox(fw mezzo.FrameworkID, ex mezzo.ExecutorID, seq int) (string, error) {
	sandbox := a.sandboxDir(fw, ex, seq)
	for _, d := range []string{filepath.Join(a.cfg.WorkDir, sandboxesDir), filepath.Dir(sandbox)} {
		if err := mkdirMode(d, traverseMode()); err != nil {
			return "", fmt.Errorf("sandbox: %w", err)
		}
	}
	// Never an existing one: it would keep an earlier owner's files.
	if err := os.Mkdir(sandbox, 0o700); err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	if err := os.Chmod(sandbox, 0o700); err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	return sandbox, nil
}

// createSandboxFile creates a new file in a sandbox, 0600 and owned by the
// container's user (u nil: the agent's).
func createSandboxFile(path string, u *containerUser) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if u != nil {
		if err := f.Chown(int(u.hostUID), int(u.hostGID)); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// reclaimSandbox hands an ended container's sandbox back to root: the
// directory root's and 0700, then every entry in it that uid owned (0:
// the directory alone). It walks through an os.Root without following
// symbolic links, so a link the task left cannot lead the agent to chown
// anything outside; entries of other owners (a hard link to a file the
// task could write but did not own) are left alone, and set-id bits go.
// After it, nothing of the container is reachable through the sandbox by
// the next holder of uid. Only root can do it; for others it is a no-op.
func reclaimSandbox(dir string, uid uint32) error {
	if os.Geteuid() != 0 || dir == "" {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Chown(".", 0, 0); err != nil {
		return err
	}
	if err := root.Chmod(".", 0o700); err != nil {
		return err
	}
	if uid == 0 {
		return nil
	}
	var errs []error
	_ = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return nil // unreadable: left, under a directory closed to all but root
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || st.Uid != uid {
			return nil
		}
		if err := root.Lchown(p, 0, 0); err != nil {
			errs = append(errs, err)
			return nil
		}
		if m := info.Mode(); m.IsRegular() && m&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			if err := root.Chmod(p, m.Perm()); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	})
	return errors.Join(errs...)
}

// secureWorkDir brings the work directory to the modes above, tightening
// what an earlier version of the agent left looser; live holds the
// sandboxes of the executors still running (adopted), which keep their
// owner. Sandboxes of ended executors become root's (their directory:
// recoverExecutors has reclaimed the contents of those it knew the uid
// of, and no other user can traverse a root 0700 directory).
func (a *Agent) secureWorkDir(live map[string]bool) error {
	dir := a.cfg.WorkDir
	if err := os.Chmod(dir, traverseMode()); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.Name() == sandboxesDir && e.IsDir() {
			errs = append(errs, secureSandboxes(p, live))
			continue
		}
		errs = append(errs, filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return tighten(q, d, 0)
		}))
	}
	return errors.Join(errs...)
}

// tighten takes the group and other bits off an entry (not a symbolic
// link: its own mode means nothing), or sets exactly mode when not 0.
func tighten(p string, d fs.DirEntry, mode os.FileMode) error {
	if d.Type()&fs.ModeSymlink != 0 {
		return nil
	}
	info, err := d.Info()
	if err != nil {
		return nil // gone
	}
	want := info.Mode().Perm() &^ 0o077
	if mode != 0 {
		want = mode
	}
	if info.Mode().Perm() == want {
		return nil
	}
	return os.Chmod(p, want)
}

// secureSandboxes handles WorkDir/sandboxes: the two directory levels
// traversable, each sandbox 0700 (root's unless live).
func secureSandboxes(dir string, live map[string]bool) error {
	var errs []error
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		depth := 0 // sandboxes/ 0, f-*/ 1, e-*/ 2
		if rel, _ := filepath.Rel(dir, p); rel != "." {
			depth = strings.Count(rel, string(filepath.Separator)) + 1
		}
		switch {
		case !d.IsDir():
			errs = append(errs, tighten(p, d, 0))
			return nil
		case depth < 2: // sandboxes/, f-*/
			errs = append(errs, tighten(p, d, traverseMode()))
			return nil
		case live[p]:
			errs = append(errs, tighten(p, d, 0o700))
		default:
			errs = append(errs, reclaimSandbox(p, 0))
			if os.Geteuid() != 0 {
				errs = append(errs, tighten(p, d, 0o700))
			}
		}
		return fs.SkipDir // a sandbox's contents are its tasks'
	})
	return errors.Join(append(errs, err)...)
}
