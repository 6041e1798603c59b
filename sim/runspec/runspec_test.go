package runspec_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mezzo-cluster/mezzo/sim/runspec"
	"github.com/mezzo-cluster/mezzo/traces"
)

func TestInstanceNames(t *testing.T) {
	got := runspec.InstanceNames([]string{"hadoop", "pi", "hadoop", "hadoop"})
	want := []string{"hadoop", "pi", "hadoop-2", "hadoop-3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("InstanceNames (-want +got):\n%s", diff)
	}
}

func TestDealGivesEveryHadoopItsShare(t *testing.T) {
	var jobs []traces.Job
	for i := range 7 {
		jobs = append(jobs, traces.Job{ID: fmt.Sprintf("j%d", i), Submit: time.Duration(i) * time.Second, Maps: 1})
	}
	got := runspec.Deal([]string{"hadoop", "pi", "hadoop"}, jobs)
	ids := func(js []traces.Job) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	want := [][]string{{"j0", "j2", "j4", "j6"}, nil, {"j1", "j3", "j5"}}
	for i := range want {
		if diff := cmp.Diff(want[i], ids(got[i])); diff != "" {
			t.Errorf("framework %d (-want +got):\n%s", i, diff)
		}
	}
	if none := runspec.Deal([]string{"pi"}, jobs); len(none) != 1 || none[0] != nil {
		t.Errorf("Deal without hadoop = %v, want one nil share", none)
	}
}

func TestValidateNamesEachProblem(t *testing.T) {
	err := runspec.Spec{Policy: "nope", Agents: 0, Frameworks: []string{"hadoop", "yarn"}, Delay: -time.Second}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad spec")
	}
	for _, want := range []string{`unknown policy "nope"`, "known: ", "drf", `unknown framework "yarn"`, "agents 0", "delay -1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := (runspec.Spec{Policy: "drf", Agents: 1}).Validate(); err != nil {
		t.Errorf("Validate of a good spec: %v", err)
	}
}

// Two hadoop instances must both get trace jobs and finish them (the
// assembly of `mezzo sim` gave the second none).
func TestTwoHadoopsShareTheTrace(t *testing.T) {
	spec := runspec.Spec{Jobs: 6, Agents: 10, Policy: "drf", Frameworks: []string{"hadoop", "hadoop"}, Seed: 2, Delay: runspec.DefaultDelay}
	s, err := spec.New()
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	fws := res.Summary.Frameworks
	if len(fws) != 2 || fws[0].Name != "hadoop" || fws[1].Name != "hadoop-2" {
		t.Fatalf("frameworks %+v, want hadoop and hadoop-2", fws)
	}
	total := 0
	for _, f := range fws {
		if f.Jobs == 0 || f.Completed != f.Jobs {
			t.Errorf("%s: %d jobs, %d done; want some, all done", f.Name, f.Jobs, f.Completed)
		}
		total += f.Jobs
	}
	if total != 6 {
		t.Errorf("%d jobs over both instances, want the trace's 6", total)
	}
}

func TestSameSpecSameResult(t *testing.T) {
	spec := runspec.Spec{Jobs: 5, Agents: 8, Policy: "drf", Frameworks: []string{"hadoop", "pi"}, Seed: 3}
	run := func() any {
		s, err := spec.New()
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Run()
		if err != nil {
			t.Fatal(err)
		}
		return res.Summary
	}
	if diff := cmp.Diff(run(), run()); diff != "" {
		t.Errorf("two runs of one spec differ (-first +second):\n%s", diff)
	}
}

func TestLoadJobsReportsBadTrace(t *testing.T) {
	_, err := runspec.Spec{Trace: "synthetic:nope"}.LoadJobs()
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("LoadJobs(synthetic:nope) = %v, want an error naming it", err)
	}
}
