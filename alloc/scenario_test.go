package alloc_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/alloc/alloctest"
)

// TestScenarios runs every alloc/testdata/*.scenario file. The format, one
// command per line ('#' starts a comment; times are offsets from the epoch):
//
//	policy NAME                          (first; default drf)
//	min-allocatable RES[|RES...]         (or "none")
//	offer-timeout D                      rescind offers older than D (before any agent)
//	role NAME [weight=W] [guarantee=RES] [limit=RES]
//	agent ID RES [attr=NAME:VALUE ...]
//	framework ID [role=R] [min=RES] [agents=A,B]
//	allocate T                           one cycle at T
//	allocate-agents T ID[,ID...]         incremental cycle
//	expect OFFERS                        the last cycle's offers: "fw@agent ..." in order, or "none"
//	decline T FW AGENT [refuse=D]        decline FW's outstanding offer on AGENT
//	accept T FW AGENT RES [refuse=D]     use RES of it, the rest back (filtered)
//	recover FW AGENT RES                 a task ended
//	expire T                             rescind timed-out offers; "expect" then checks them
//	suppress FW | revive FW | deactivate FW | activate FW
//	remove-agent ID | remove-framework ID
//	expect-error                         the previous command must have failed
//	expect-share FW SHARE                dominant share, to 3 decimals
//	expect-used FW RES                   resources in use by FW
//	demand FW RES                        for "fill": one task of RES per offer
//	fill T CYCLES                        cycles at T: each offer launches one task of its framework's demand if it fits, else is declined without filter
//	expect-tasks FW=N ...                tasks launched by fill
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.scenario"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".scenario"), func(t *testing.T) { runScenario(t, f) })
	}
}

type scenario struct {
	t        *testing.T
	file     string
	line     int
	policy   string
	minAlloc []mezzo.Resources
	timeout  time.Duration
	a        *alloc.Allocator
	offers   []mezzo.Offer // outstanding, in order made
	last     []mezzo.Offer // the last cycle's
	lastErr  error
	demand   map[mezzo.FrameworkID]mezzo.Resources
	tasks    map[mezzo.FrameworkID]int
}

func (s *scenario) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s:%d: %s", s.file, s.line, fmt.Sprintf(format, args...))
}

func runScenario(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &scenario{t: t, file: file, policy: "drf", demand: map[mezzo.FrameworkID]mezzo.Resources{}, tasks: map[mezzo.FrameworkID]int{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s.line++
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		s.do(strings.Fields(line))
		if s.a != nil {
			if err := s.a.Check(); err != nil {
				s.fatalf("invariant broken: %v", err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if s.lastErr != nil {
		s.fatalf("unexpected error: %v", s.lastErr)
	}
}

func (s *scenario) alloc() *alloc.Allocator {
	if s.a == nil {
		p, err := alloc.DefaultRegistry().New(s.policy, alloc.PolicyOptions{Seed: 1})
		if err != nil {
			s.fatalf("%v", err)
		}
		s.a, err = alloc.New(alloc.Config{Policy: p, MinAllocatable: s.minAlloc, OfferTimeout: s.timeout})
		if err != nil {
			s.fatalf("%v", err)
		}
	}
	return s.a
}

func (s *scenario) res(text string) mezzo.Resources {
	r, err := mezzo.ParseResources(text)
	if err != nil {
		s.fatalf("%v", err)
	}
	return r
}

func (s *scenario) at(text string) time.Time {
	d, err := time.ParseDuration(text)
	if err != nil {
		s.fatalf("bad time %q: %v", text, err)
	}
	return alloctest.Epoch.Add(d)
}

// opts splits key=value words.
func (s *scenario) opts(words []string) map[string]string {
	m := map[string]string{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			s.fatalf("expected key=value, got %q", w)
		}
		if k == "attr" {
			m[k] += v + ","
			continue
		}
		m[k] = v
	}
	return m
}

func (s *scenario) filters(o map[string]string) mezzo.Filters {
	if v, ok := o["refuse"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.fatalf("bad refuse %q", v)
		}
		if d == 0 {
			d = -1
		}
		return mezzo.Filters{Refuse: d}
	}
	return mezzo.Filters{}
}

func (s *scenario) outstanding(fw, agent string) mezzo.Offer {
	for _, o := range s.offers {
		if string(o.FrameworkID) == fw && string(o.AgentID) == agent {
			return o
		}
	}
	s.fatalf("%s holds no offer for %s", fw, agent)
	return mezzo.Offer{}
}

func (s *scenario) forget(id mezzo.OfferID) {
	for i, o := range s.offers {
		if o.ID == id {
			s.offers = append(s.offers[:i], s.offers[i+1:]...)
			return
		}
	}
}

func (s *scenario) withdrawn(offers []mezzo.Offer, err error) {
	s.lastErr = err
	for _, o := range offers {
		s.forget(o.ID)
	}
}

// do runs one command. A command's error must be claimed by an
// expect-error on the very next line, or the scenario fails there.
func (s *scenario) do(w []string) {
	if s.lastErr != nil && w[0] != "expect-error" {
		s.line--
		s.fatalf("unexpected error: %v", s.lastErr)
	}
	switch cmd, args := w[0], w[1:]; cmd {
	case "policy":
		s.policy = args[0]
	case "min-allocatable":
		s.minAlloc = []mezzo.Resources{}
		if args[0] != "none" {
			for _, part := range strings.Split(args[0], "|") {
				s.minAlloc = append(s.minAlloc, s.res(part))
			}
		}
	case "offer-timeout":
		d, err := time.ParseDuration(args[0])
		if err != nil {
			s.fatalf("bad timeout %q", args[0])
		}
		s.timeout = d
	case "expire":
		s.last = s.a.ExpireOffers(s.at(args[0]))
		for _, o := range s.last {
			s.forget(o.ID)
		}
	case "role":
		o := s.opts(args[1:])
		cfg := alloc.RoleConfig{Quota: alloc.Quota{Guarantee: s.res(o["guarantee"]), Limit: s.res(o["limit"])}}
		if v, ok := o["weight"]; ok {
			cfg.Weight, _ = strconv.ParseFloat(v, 64)
		}
		s.lastErr = s.alloc().SetRole(args[0], cfg)
	case "agent":
		info := alloc.AgentInfo{Hostname: args[0], Resources: s.res(args[1])}
		for _, kv := range strings.Split(strings.TrimSuffix(s.opts(args[2:])["attr"], ","), ",") {
			if n, v, ok := strings.Cut(kv, ":"); ok {
				info.Attributes = append(info.Attributes, mezzo.Attribute{Name: n, Value: v})
			}
		}
		s.lastErr = s.alloc().AddAgent(mezzo.AgentID(args[0]), info, nil)
	case "framework":
		o := s.opts(args[1:])
		info := mezzo.FrameworkInfo{Name: args[0], Role: o["role"]}
		info.Constraints.MinResources = s.res(o["min"])
		if v := o["agents"]; v != "" {
			for _, id := range strings.Split(v, ",") {
				info.Constraints.Agents = append(info.Constraints.Agents, mezzo.AgentID(id))
			}
		}
		s.lastErr = s.alloc().AddFramework(mezzo.FrameworkID(args[0]), info)
	case "allocate":
		s.last = s.alloc().Allocate(s.at(args[0]))
		s.offers = append(s.offers, s.last...)
	case "allocate-agents":
		var ids []mezzo.AgentID
		for _, id := range strings.Split(args[1], ",") {
			ids = append(ids, mezzo.AgentID(id))
		}
		s.last = s.alloc().AllocateAgents(s.at(args[0]), ids)
		s.offers = append(s.offers, s.last...)
	case "expect":
		var got []string
		for _, o := range s.last {
			got = append(got, string(o.FrameworkID)+"@"+string(o.AgentID))
		}
		want := args
		if len(args) == 1 && args[0] == "none" {
			want = nil
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			s.fatalf("offers %v, want %v", got, want)
		}
	case "decline":
		o := s.outstanding(args[1], args[2])
		s.lastErr = s.a.Decline(s.at(args[0]), o.FrameworkID, []mezzo.OfferID{o.ID}, s.filters(s.opts(args[3:])))
		if s.lastErr == nil {
			s.forget(o.ID)
		}
	case "accept":
		o := s.outstanding(args[1], args[2])
		s.lastErr = s.a.Accept(s.at(args[0]), o.FrameworkID, []mezzo.OfferID{o.ID}, s.res(args[3]), s.filters(s.opts(args[4:])))
		if s.lastErr == nil {
			s.forget(o.ID)
		}
	case "recover":
		s.lastErr = s.a.Recover(mezzo.FrameworkID(args[0]), mezzo.AgentID(args[1]), s.res(args[2]))
	case "suppress":
		s.lastErr = s.a.Suppress(mezzo.FrameworkID(args[0]))
	case "revive":
		s.lastErr = s.a.Revive(mezzo.FrameworkID(args[0]))
	case "deactivate":
		s.withdrawn(s.a.DeactivateFramework(mezzo.FrameworkID(args[0])))
	case "activate":
		s.lastErr = s.a.ActivateFramework(mezzo.FrameworkID(args[0]))
	case "remove-agent":
		s.withdrawn(s.a.RemoveAgent(mezzo.AgentID(args[0])))
	case "remove-framework":
		s.withdrawn(s.a.RemoveFramework(mezzo.FrameworkID(args[0])))
	case "expect-error":
		if s.lastErr == nil {
			s.fatalf("previous command succeeded, want an error")
		}
		if len(args) > 0 && !strings.Contains(s.lastErr.Error(), strings.Join(args, " ")) {
			s.fatalf("error %q does not say %q", s.lastErr, strings.Join(args, " "))
		}
		s.lastErr = nil
	case "expect-share":
		st, ok := s.a.Framework(mezzo.FrameworkID(args[0]))
		if !ok {
			s.fatalf("no framework %s", args[0])
		}
		want, _ := strconv.ParseFloat(args[1], 64)
		if fmt.Sprintf("%.3f", st.DominantShare) != fmt.Sprintf("%.3f", want) {
			s.fatalf("%s share %.3f, want %.3f", args[0], st.DominantShare, want)
		}
	case "expect-used":
		st, _ := s.a.Framework(mezzo.FrameworkID(args[0]))
		if !st.Used.Equal(s.res(args[1])) {
			s.fatalf("%s uses %s, want %s", args[0], st.Used, args[1])
		}
	case "demand":
		s.demand[mezzo.FrameworkID(args[0])] = s.res(args[1])
	case "fill":
		n, _ := strconv.Atoi(args[1])
		s.fill(s.at(args[0]), n)
	case "expect-tasks":
		for kv := range strings.SplitSeq(strings.Join(args, " "), " ") {
			fw, v, _ := strings.Cut(kv, "=")
			want, _ := strconv.Atoi(v)
			if got := s.tasks[mezzo.FrameworkID(fw)]; got != want {
				s.fatalf("%s launched %d tasks, want %d (all: %v)", fw, got, want, s.tasks)
			}
		}
	default:
		s.fatalf("unknown command %q", cmd)
	}
}

// fill plays frameworks that launch one task of their demand per offer: the
// progressive filling of the DRF paper, one task at a time.
func (s *scenario) fill(now time.Time, cycles int) {
	for c := 0; c < cycles; c++ {
		for _, o := range s.a.Allocate(now) {
			d := s.demand[o.FrameworkID]
			if !d.IsEmpty() && o.Resources.Contains(d) {
				if err := s.a.Accept(now, o.FrameworkID, []mezzo.OfferID{o.ID}, d, mezzo.Filters{Refuse: -1}); err != nil {
					s.fatalf("fill accept: %v", err)
				}
				s.tasks[o.FrameworkID]++
				continue
			}
			if err := s.a.Decline(now, o.FrameworkID, []mezzo.OfferID{o.ID}, mezzo.Filters{Refuse: -1}); err != nil {
				s.fatalf("fill decline: %v", err)
			}
		}
	}
}
