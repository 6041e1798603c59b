package workloads

import (
	"sort"
	"strings"
	"testing"

	"github.com/mezzo-cluster/mezzo"
)

func TestRegistryBuildsEveryFrameworkWithDefaults(t *testing.T) {
	opts := Options{Seed: 1, Agents: 4, AgentResources: mezzo.Cpus(4).Add(mezzo.MemMB(15 * 1024))}
	names := make([]string, 0)
	for n := range Schedulers() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fw, err := Schedulers()[n].New(opts, nil)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if fw.Scheduler == nil || fw.Done == nil || fw.Jobs == nil || fw.Summary == nil || fw.Info.Name == "" {
			t.Errorf("%s: incomplete framework %+v", n, fw)
		}
		if fw.Done() {
			t.Errorf("%s: done before it ran", n)
		}
	}
	if _, ok := Schedulers()["pi"]; !ok {
		t.Error("no pi framework")
	}
}

func TestRegistryRejectsBadFlags(t *testing.T) {
	_, err := Schedulers()["pi"].New(Options{}, []string{"-tasks", "zero"})
	if err == nil || !strings.Contains(err.Error(), "pi") || !strings.Contains(err.Error(), "tasks") {
		t.Errorf("bad flag: err %v, want one naming the framework and flag", err)
	}
	if _, err := Schedulers()["pi"].New(Options{}, []string{"-tasks", "0"}); err == nil {
		t.Error("zero tasks accepted")
	}
	if _, err := Schedulers()["pi"].New(Options{}, []string{"stray"}); err == nil {
		t.Error("stray argument accepted")
	}
}

func TestExecutorsHavePi(t *testing.T) {
	for _, m := range []map[string]func() mezzo.Executor{Executors(), InlineExecutors()} {
		if f, ok := m["pi"]; !ok || f() == nil {
			t.Error("no pi executor")
		}
	}
}

func TestParseLoad(t *testing.T) {
	steps, err := parseLoad("0s:2, 90s:5,2m:0")
	if err != nil || len(steps) != 3 || steps[1].Instances != 5 || steps[2].At.Minutes() != 2 {
		t.Fatalf("parseLoad: %v %v", steps, err)
	}
	for _, bad := range []string{"", "0s", "soon:2", "1s:many"} {
		if _, err := parseLoad(bad); err == nil || !strings.Contains(err.Error(), "load step 1") {
			t.Errorf("parseLoad(%q): err %v, want one naming step 1", bad, err)
		}
	}
	if _, err := Schedulers()["service"].New(Options{}, []string{"-load", "0s:1,1s:x"}); err == nil || !strings.Contains(err.Error(), "load step 2") {
		t.Errorf("bad -load: err %v", err)
	}
	if _, err := Schedulers()["torque"].New(Options{}, nil); err == nil || !strings.Contains(err.Error(), "Cluster") {
		t.Errorf("torque without a cluster size: err %v, want one naming Cluster", err)
	}
}
