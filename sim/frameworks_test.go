package sim_test

import (
	"math"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/sim"
	"github.com/mezzo-cluster/mezzo/workloads"
	"github.com/mezzo-cluster/mezzo/workloads/mpi"
	"github.com/mezzo-cluster/mezzo/workloads/pi"
	"github.com/mezzo-cluster/mezzo/workloads/service"
)

// The frameworks of workloads/, built through their registry exactly as
// `mezzo run` builds them for the real runtime, run here in the simulator
// and are held to what they are for.

const testAgents = 16

func buildFramework(t *testing.T, name string, args []string) *workloads.Framework {
	t.Helper()
	f, ok := workloads.Schedulers()[name]
	if !ok {
		t.Fatalf("no framework %q in the registry", name)
	}
	fw, err := f.New(workloads.Options{Seed: 1, Agents: testAgents, AgentResources: mezzo.MustParseResources(sim.DefaultAgentResources)}, args)
	if err != nil {
		t.Fatal(err)
	}
	return fw
}

func runFrameworks(t *testing.T, fws map[string]*workloads.Framework, horizon time.Duration) *sim.Result {
	t.Helper()
	s, err := sim.New(sim.Config{Agents: testAgents, Policy: "drf", Seed: 1, Horizon: horizon,
		World: sim.WorldConfig{Executors: sim.ExecutorRegistry(workloads.InlineExecutors()), Check: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mpi", "pi", "service", "torque"} {
		fw, ok := fws[name]
		if !ok {
			continue
		}
		if err := s.AddFramework(sim.FrameworkSpec{Name: name, Info: fw.Info, Scheduler: fw.Scheduler, Done: fw.Done}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPiInSimulator(t *testing.T) {
	fw := buildFramework(t, "pi", []string{"--tasks", "24"})
	runFrameworks(t, map[string]*workloads.Framework{"pi": fw}, time.Hour)
	p := fw.Scheduler.(*pi.Scheduler)
	if !p.Done() {
		t.Fatalf("pi not done: %s", fw.Summary())
	}
	if math.Abs(p.Estimate()-math.Pi) > 0.05 {
		t.Fatalf("estimate %v, want within 0.05 of π", p.Estimate())
	}
}

// Rigid frameworks run every gang whole and never hold more than their cap,
// while sharing the cluster with an elastic service.
func TestRigidFrameworksInSimulator(t *testing.T) {
	fws := map[string]*workloads.Framework{
		"mpi":     buildFramework(t, "mpi", nil),
		"torque":  buildFramework(t, "torque", nil),
		"service": buildFramework(t, "service", nil),
	}
	res := runFrameworks(t, fws, 6*time.Hour)
	for _, name := range []string{"mpi", "torque"} {
		s := fws[name].Scheduler.(*mpi.Scheduler)
		if !s.Done() {
			t.Fatalf("%s did not finish: %s", name, fws[name].Summary())
		}
		cap := s.Config().Cap
		for _, j := range s.Jobs() {
			if j.Finish.IsZero() || j.Start.Before(j.Submit) {
				t.Fatalf("%s job %s: submit %v start %v finish %v", name, j.ID, j.Submit, j.Start, j.Finish)
			}
		}
		for _, sample := range res.Shares {
			if sample.Framework == name && sample.CPUShare > cap+1e-9 {
				t.Fatalf("%s used %.3f of the CPUs at %v, cap %.2f", name, sample.CPUShare, sample.At, cap)
			}
		}
	}
	svc := fws["service"].Scheduler.(*service.Scheduler)
	if len(svc.Points()) == 0 {
		t.Fatal("service recorded no points")
	}
	// The service follows its curve up and down: by the last event of each
	// step of the curve, the instances running are what is desired.
	pts := svc.Points()
	steps := 0
	for i := 0; i < len(pts); i++ {
		end := i
		for end+1 < len(pts) && pts[end+1].Desired == pts[i].Desired {
			end++
		}
		steps++
		if pts[end].Running != pts[i].Desired {
			t.Fatalf("service step to %d instances at %v: %d running at %v", pts[i].Desired, pts[i].At, pts[end].Running, pts[end].At)
		}
		i = end
	}
	if steps < 3 {
		t.Fatalf("service curve has %d steps; want one that goes up and down: %+v", steps, pts)
	}
}
