package isolation

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setFileSize sets RLIMIT_FSIZE of a running process, soft and hard
// alike, so that a task running as another user cannot raise it again; 0
// removes it. The processes pid starts afterwards inherit it. Raising it,
// or setting it for a process of another user, needs CAP_SYS_RESOURCE.
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
