package isolation

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setFileSize sets RLIMIT_FSIZE of pid, soft and hard alike, so that a
// task running as another user cannot raise it again; 0 removes it. The
// processes pid starts afterwards inherit it.
func setFileSize(pid int, bytes int64) error {
	v := uint64(unix.RLIM_INFINITY)
	if bytes > 0 {
		v = uint64(bytes)
	}
	lim := unix.Rlimit{Cur: v, Max: v}
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
		return fmt.Errorf("set the file size limit of pid %d to %d bytes: %w", pid, bytes, err)
	}
	return nil
}

// both runs a and then b (either may be nil).
func both(a, b func(pid int) error) func(pid int) error {
	return func(pid int) error {
		if a != nil {
			if err := a(pid); err != nil {
				return err
			}
		}
		if b != nil {
			return b(pid)
		}
		return nil
	}
}
