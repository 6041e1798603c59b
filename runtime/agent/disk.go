package agent

import (
	"os"

	"golang.org/x/sys/unix"
)

func diskMB(dir string) (float64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return float64(int64(st.Bavail) * st.Bsize >> 20), nil
}
