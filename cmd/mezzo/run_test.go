package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mezzo-cluster/mezzo"
)

func TestSplitRunArgs(t *testing.T) {
	fs, o := runFlags()
	args := []string{"--tasks", "5", "--master", "m:1", "-seed=7", "--tls-ca", "ca.crt", "--verbose", "--token-file=tok", "--user", "nobody", "--role=batch", "x"}
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
	if o.master != "m:1" || o.seed != 7 || o.sec.tls.CA != "ca.crt" || o.sec.tokenFile != "tok" || o.user != "nobody" || o.role != "batch" {
		t.Errorf("parsed master %q seed %d ca %q token file %q user %q role %q", o.master, o.seed, o.sec.tls.CA, o.sec.tokenFile, o.user, o.role)
	}
	if _, _, err := splitRunArgs(fs, []string{"--tls-cert"}); err == nil {
		t.Error("a trailing --tls-cert without a value was accepted")
	}
}

// The operator's --user, --role and --failover-timeout override what the
// framework asks for; unset, the framework's own choice stands.
func TestRunFrameworkInfoOverrides(t *testing.T) {
	own := mezzo.FrameworkInfo{Name: "pi", Role: "research", User: "alice", FailoverTimeout: time.Minute}
	for _, tc := range []struct {
		args []string
		want mezzo.FrameworkInfo
	}{
		{nil, own},
		{[]string{"--user", "bob", "--role", "prod", "--failover-timeout", "1h"},
			mezzo.FrameworkInfo{Name: "pi", Role: "prod", User: "bob", FailoverTimeout: time.Hour}},
		{[]string{"--user=bob"}, mezzo.FrameworkInfo{Name: "pi", Role: "research", User: "bob", FailoverTimeout: time.Minute}},
	} {
		fs, o := runFlags()
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := o.frameworkInfo(own)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q: framework info (-want +got):\n%s", tc.args, diff)
		}
	}
	fs, o := runFlags()
	if err := fs.Parse([]string{"--failover-timeout=-1s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.frameworkInfo(own); err == nil || !strings.Contains(err.Error(), "failover-timeout") {
		t.Errorf("a negative --failover-timeout gave %v; want an error naming the flag", err)
	}
}
