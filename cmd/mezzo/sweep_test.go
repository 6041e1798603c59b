package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSweepCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.csv")
	args := []string{"--policy", "drf,tetris", "--seed", "1..2", "--agents", "20", "--jobs", "5", "--workers", "2", "--out", out}
	if err := runSweep(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(string(b), "\n") - 1; rows != 4 {
		t.Errorf("%d rows, want 4:\n%s", rows, b)
	}
	for _, bad := range [][]string{
		{"--out", out, "--seed", "1.."},
		{"--out", out, "--agents", "-1"},
		{"--out", out, "--policy", "nope"},
		{"--seed", "1"},
	} {
		if err := runSweep(context.Background(), bad); err == nil {
			t.Errorf("mezzo sweep %v: no error", bad)
		}
	}
}
