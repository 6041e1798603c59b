package agent

import (
	"os"
	"path/filepath"
)

// writeFileAtomic makes path hold data, whole or not at all, also across a
// machine crash: data goes to path+tmpExt (0600, as everything the agent
// keeps), is synced, renamed over path, and the directory synced. A failed
// write removes its temporary file (a partial one on a full disk holds
// space); one a crash left is truncated by the next write to path, and
// the loaders of status files and checkpoints remove theirs. Status
// files, executor checkpoints, the agent's identity and the machine's
// container uid cursor are all written this way.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp := path + tmpExt
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
