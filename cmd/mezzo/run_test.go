package main

import (
	"slices"
	"testing"
)

func TestSplitRunArgs(t *testing.T) {
	fs, masterAddr, seed, _, sec := runFlags()
	args := []string{"--tasks", "5", "--master", "m:1", "-seed=7", "--tls-ca", "ca.crt", "--verbose", "--token-file=tok", "x"}
	own, rest, err := splitRunArgs(fs, args)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"--tasks", "5", "--verbose", "x"}; !slices.Equal(rest, want) {
		t.Errorf("framework args %q, want %q", rest, want)
	}
	if err := fs.Parse(own); err != nil {
		t.Fatal(err)
	}
	if *masterAddr != "m:1" || *seed != 7 || sec.tls.CA != "ca.crt" || sec.tokenFile != "tok" {
		t.Errorf("parsed master %q seed %d ca %q token file %q", *masterAddr, *seed, sec.tls.CA, sec.tokenFile)
	}
	if _, _, err := splitRunArgs(fs, []string{"--tls-cert"}); err == nil {
		t.Error("a trailing --tls-cert without a value was accepted")
	}
}
