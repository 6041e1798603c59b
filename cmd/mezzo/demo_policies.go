package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
)

// demoPolicies plays the DRF paper's example on a small cluster under
// several policies and prints, side by side, what each framework was
// offered and ran: the allocator alone, no network.
func demoPolicies(w io.Writer, policies []string) error {
	type fw struct {
		id     mezzo.FrameworkID
		demand mezzo.Resources
	}
	fws := []fw{
		{"A <1 cpu, 4 GB>", mezzo.MustParseResources("cpus:1;mem:4096")},
		{"B <3 cpu, 1 GB>", mezzo.MustParseResources("cpus:3;mem:1024")},
	}
	type result struct {
		offers, tasks map[mezzo.FrameworkID]int
		share         map[mezzo.FrameworkID]float64
	}
	results := map[string]result{}
	for _, name := range policies {
		p, err := alloc.DefaultRegistry().New(name, alloc.PolicyOptions{Seed: 1})
		if err != nil {
			return err
		}
		a, err := alloc.New(alloc.Config{Policy: p})
		if err != nil {
			return err
		}
		if err := a.AddAgent("agent-1", alloc.AgentInfo{Resources: mezzo.MustParseResources("cpus:9;mem:18432")}, nil); err != nil {
			return err
		}
		for _, f := range fws {
			if err := a.AddFramework(f.id, mezzo.FrameworkInfo{Role: string(f.id)}); err != nil {
				return err
			}
		}
		res := result{offers: map[mezzo.FrameworkID]int{}, tasks: map[mezzo.FrameworkID]int{}, share: map[mezzo.FrameworkID]float64{}}
		now := time.Date(2011, 3, 30, 0, 0, 0, 0, time.UTC)
		// Each framework runs one task per offer if it fits (the DRF paper's
		// progressive filling) and hands the rest back.
		for cycle := 0; cycle < 20; cycle++ {
			for _, o := range a.Allocate(now) {
				res.offers[o.FrameworkID]++
				var d mezzo.Resources
				for _, f := range fws {
					if f.id == o.FrameworkID {
						d = f.demand
					}
				}
				if o.Resources.Contains(d) {
					res.tasks[o.FrameworkID]++
					err = a.Accept(now, o.FrameworkID, []mezzo.OfferID{o.ID}, d, mezzo.Filters{Refuse: -1})
				} else {
					err = a.Decline(now, o.FrameworkID, []mezzo.OfferID{o.ID}, mezzo.Filters{Refuse: time.Hour})
				}
				if err != nil {
					return err
				}
			}
			now = now.Add(time.Second)
		}
		for _, s := range a.Frameworks() {
			res.share[s.ID] = s.DominantShare
		}
		results[name] = res
	}
	fmt.Fprintln(w, "allocator alone: the DRF paper's example, <9 cpu, 18 GB>, one task per offer")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "framework\t")
	for _, p := range policies {
		fmt.Fprintf(tw, "%s tasks\t%s share\t", p, p)
	}
	fmt.Fprintln(tw)
	for _, f := range fws {
		fmt.Fprintf(tw, "%s\t", f.id)
		for _, p := range policies {
			fmt.Fprintf(tw, "%d\t%.2f\t", results[p].tasks[f.id], results[p].share[f.id])
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "(%s: policies compared; any of %s works with --policies)\n\n", strings.Join(policies, ", "), strings.Join(alloc.DefaultRegistry().Names(), ", "))
	return nil
}
