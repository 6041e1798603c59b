package mezzo

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAndPrintRoundTrip(t *testing.T) {
	for _, text := range []string{
		"cpus:4;mem:8192;ports:[31000-32000]",
		"cpus:0.5",
		"cpus:2;disk:100;gpus:1;mem:1024",
		"ports:[80-80,443-443,31000-31009]",
		"{}",
	} {
		r, err := ParseResources(text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if got := r.String(); got != text {
			t.Errorf("round trip %q printed %q", text, got)
		}
	}
}

func TestParseNormalises(t *testing.T) {
	r := MustParseResources(" mem:512 ; cpus:1.5;ports:[31005-31010,31000-31004]; ")
	if got, want := r.String(), "cpus:1.5;mem:512;ports:[31000-31010]"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseErrorsNameTheEntry(t *testing.T) {
	for text, want := range map[string]string{
		"cpus:4;mem:lots":     `entry 2 "mem:lots": "lots" is not a number`,
		"cpus":                `entry 1 "cpus" is not name:value`,
		"cpus:-1":             `"cpus": -1 is negative`,
		"ports:31000":         "ports must be ranges",
		"cpus:[1-2]":          `only "ports" takes ranges`,
		"ports:[32000-31000]": "begin is after end",
		"ports:[31000-":       "does not end with ]",
		"cpus(prod):4":        "reserved resources",
		"cpus:NaN":            "not a number",
		// Text that cannot mean what it says is refused, not read loosely.
		"cpus:4;cpus:2":           `entry 2 "cpus:2": cpus is given twice`,
		"ports:[1-2];ports:[5-6]": `entry 2 "ports:[5-6]": ports is given twice`,
		"cpus:0":                  `entry 1 "cpus:0": a zero quantity`,
		"cpus:1;mem:0.0001":       `entry 2 "mem:0.0001": a zero quantity`,
		"ports:[]":                "no port ranges",
		";;;":                     "no entries",
		" ; ":                     "no entries",
		"CPUS:2":                  `unknown resource "CPUS"; did you mean cpus?`,
		"cpus:1;Mem:64":           `did you mean mem?`,
		"Ports:[1-2]":             `did you mean ports?`,
		"licences:2;Licences:3":   "licences and Licences differ only by case",
	} {
		_, err := ParseResources(text)
		if err == nil {
			t.Errorf("%q parsed", text)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q does not say %q", text, err, want)
		}
	}
}

func TestArithmetic(t *testing.T) {
	a := MustParseResources("cpus:4;mem:8192;ports:[31000-31009]")
	b := MustParseResources("cpus:1.5;mem:1024;ports:[31003-31004]")
	diff := a.Sub(b)
	if got, want := diff.String(), "cpus:2.5;mem:7168;ports:[31000-31002,31005-31009]"; got != want {
		t.Fatalf("sub: %q, want %q", got, want)
	}
	if !diff.Add(b).Equal(a) {
		t.Fatalf("(a-b)+b = %s, want %s", diff.Add(b), a)
	}
	if !a.Contains(b) || b.Contains(a) {
		t.Fatal("contains is wrong")
	}
	if a.Contains(MustParseResources("gpus:1")) {
		t.Fatal("contains a resource it lacks")
	}
	if a.Contains(MustParseResources("ports:[31009-31010]")) {
		t.Fatal("contains ports it lacks")
	}
	if got := a.Min(MustParseResources("cpus:8;mem:100;ports:[31008-31020]")).String(); got != "cpus:4;mem:100;ports:[31008-31009]" {
		t.Fatalf("min: %q", got)
	}
	if !b.Sub(a).IsEmpty() {
		t.Fatalf("sub saturates at zero: %s", b.Sub(a))
	}
}

// Thousandths are exact: a thousand additions of 0.001 are 1, not
// 0.9999999999999062.
func TestFixedPointDoesNotDrift(t *testing.T) {
	var r Resources
	step := Cpus(0.001)
	for i := 0; i < 1000; i++ {
		r = r.Add(step)
	}
	if !r.Equal(Cpus(1)) {
		t.Fatalf("1000 × 0.001 = %s", r)
	}
	for i := 0; i < 1000; i++ {
		r = r.Sub(step)
	}
	if !r.IsEmpty() {
		t.Fatalf("back to %s, want empty", r)
	}
}

func TestDominantShare(t *testing.T) {
	total := MustParseResources("cpus:9;mem:18432")
	a := MustParseResources("cpus:3;mem:12288")
	if got := a.DominantShare(total); got < 0.666 || got > 0.667 {
		t.Fatalf("dominant share %v, want 2/3", got)
	}
	if got := MustParseResources("gpus:1").DominantShare(total); got != 0 {
		t.Fatalf("share of a resource the cluster lacks: %v", got)
	}
}

func TestValuesAreNotAliased(t *testing.T) {
	a := MustParseResources("cpus:1;ports:[1-5]")
	b := a.Add(MustParseResources("cpus:1;ports:[10-12]"))
	_ = b.Sub(MustParseResources("ports:[1-1]"))
	if a.String() != "cpus:1;ports:[1-5]" {
		t.Fatalf("receiver changed to %s", a)
	}
	s := a.Scalars()
	s[0].Name = "x"
	if a.Names()[0] != "cpus" {
		t.Fatal("Scalars exposed internal storage")
	}
}

func TestTextMarshalling(t *testing.T) {
	var r Resources
	if err := r.UnmarshalText([]byte("cpus:2;mem:64")); err != nil {
		t.Fatal(err)
	}
	b, _ := r.MarshalText()
	if diff := cmp.Diff("cpus:2;mem:64", string(b)); diff != "" {
		t.Fatal(diff)
	}
	if err := r.UnmarshalText([]byte("cpus:x")); err == nil {
		t.Fatal("bad text accepted")
	}
}

func TestTaskStates(t *testing.T) {
	for s := TaskStaging; s < taskStateCount; s++ {
		got, err := ParseTaskState(s.String())
		if err != nil || got != s {
			t.Fatalf("%v: parsed %v, %v", s, got, err)
		}
	}
	if s, err := ParseTaskState("running"); err != nil || s != TaskRunning {
		t.Fatalf("short name: %v %v", s, err)
	}
	if _, err := ParseTaskState("TASK_NAPPING"); err == nil {
		t.Fatal("unknown state parsed")
	}
	if TaskRunning.Terminal() || TaskUnreachable.Terminal() || !TaskFinished.Terminal() || !TaskLost.Terminal() {
		t.Fatal("terminal states wrong")
	}
}

func TestFilters(t *testing.T) {
	if (Filters{}).RefuseDuration() != DefaultRefuse {
		t.Fatal("zero filter is not the default")
	}
	if (Filters{Refuse: -1}).RefuseDuration() != 0 {
		t.Fatal("negative filter is not 'none'")
	}
}
