package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// mezzo sim writes a CPU and a heap profile of the replay when asked: what
// a researcher reaches for when a policy makes replays slow.
func TestSimProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	args := []string{"--agents", "20", "--jobs", "5", "--json", "--cpuprofile", cpu, "--memprofile", mem}
	stdout := os.Stdout
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout = devnull
	err = runSim(context.Background(), args)
	os.Stdout = stdout
	devnull.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{cpu, mem} {
		if st, err := os.Stat(f); err != nil {
			t.Errorf("profile %s: %v", f, err)
		} else if st.Size() == 0 {
			t.Errorf("profile %s is empty", f)
		}
	}
}
