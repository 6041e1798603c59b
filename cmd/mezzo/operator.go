package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// The operator commands talk to the master's HTTP server (mezzo master
// --http ADDR): the read-only state endpoints, the sandbox proxy, and the
// operator endpoints of runtime/master/operator.go.

// defaultMasterHTTP is where `mezzo master --http` is usually pointed.
const defaultMasterHTTP = "127.0.0.1:5051"

func runStatus(ctx context.Context, args []string) error { return opStatus(ctx, os.Stdout, args) }
func runAgents(ctx context.Context, args []string) error { return opAgents(ctx, os.Stdout, args) }
func runFrameworks(ctx context.Context, args []string) error {
	return opFrameworks(ctx, os.Stdout, args)
}
func runTasks(ctx context.Context, args []string) error   { return opTasks(ctx, os.Stdout, args) }
func runKill(ctx context.Context, args []string) error    { return opKill(ctx, os.Stdout, args) }
func runLogs(ctx context.Context, args []string) error    { return opLogs(ctx, os.Stdout, args) }
func runDrain(ctx context.Context, args []string) error   { return opDrain(ctx, os.Stdout, args) }
func runUndrain(ctx context.Context, args []string) error { return opUndrain(ctx, os.Stdout, args) }

// opFlags are the flags every operator command shares.
type opFlags struct {
	fs     *flag.FlagSet
	master *string
	json   *bool
	sec    *securityFlags
}

func newOpFlags(name string) *opFlags {
	fs := flag.NewFlagSet("mezzo "+name, flag.ContinueOnError)
	def := os.Getenv("MEZZO_MASTER_HTTP")
	if def == "" {
		def = defaultMasterHTTP
	}
	return &opFlags{
		fs:     fs,
		master: fs.String("master-http", def, "the master's HTTP address (its --http), host:port or a URL; default $MEZZO_MASTER_HTTP or "+defaultMasterHTTP),
		json:   fs.Bool("json", false, "print the master's JSON answer instead of a table"),
		sec:    addSecurityFlags(fs, false),
	}
}

// parse parses args and checks the number of positional arguments.
func (f *opFlags) parse(args []string, positional ...string) ([]string, error) {
	// Flags may come after the positional arguments (mezzo kill T
	// --framework F): parse again after each one.
	var pos []string
	for rest := args; ; {
		if err := parseFlags(f.fs, rest); err != nil {
			return nil, err
		}
		if f.fs.NArg() == 0 {
			break
		}
		pos = append(pos, f.fs.Arg(0))
		rest = f.fs.Args()[1:]
	}
	if len(pos) != len(positional) {
		if len(positional) == 0 {
			return nil, fmt.Errorf("unexpected argument %q (see %s -h)", pos[0], f.fs.Name())
		}
		return nil, fmt.Errorf("usage: %s %s [flags] (see -h)", f.fs.Name(), strings.ToUpper(strings.Join(positional, " ")))
	}
	return pos, nil
}

// client builds the HTTP client the flags describe.
func (f *opFlags) client() (*opClient, error) {
	base := strings.TrimRight(*f.master, "/")
	if !strings.Contains(base, "://") {
		scheme := "http://"
		if f.sec.tls.Enabled() {
			scheme = "https://"
		}
		base = scheme + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--master-http %q: want host:port or a URL", *f.master)
	}
	c := &opClient{base: base, http: &http.Client{Timeout: 30 * time.Second}}
	if f.sec.tokenFile != "" {
		if c.token, err = security.ReadTokenFile(f.sec.tokenFile); err != nil {
			return nil, err
		}
	}
	if u.Scheme == "https" && f.sec.tls.Enabled() {
		// With a client certificate, mutual TLS; with only --tls-ca (and
		// --token-file), TLS that verifies the master, its role included,
		// before the token is sent.
		var cfg *tls.Config
		if f.sec.tls.Cert == "" && f.sec.tls.Key == "" {
			cfg, err = security.MasterCAOnlyTLS(f.sec.tls.CA)
			if cfg != nil {
				cfg.ServerName = u.Hostname()
			}
		} else {
			cfg, err = security.ClientTLS(f.sec.tls, u.Hostname())
		}
		if err != nil {
			return nil, err
		}
		c.http.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	return c, nil
}

// opClient calls the master's HTTP endpoints.
type opClient struct {
	base  string
	http  *http.Client
	token string
}

// do makes a request and returns the body of a 2xx answer; other answers
// become errors carrying the master's message ("no task X").
func (c *opClient) do(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("master at %s is unreachable (is it running with --http, and is --master-http right?): %v", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("master at %s: reading the answer: %v", c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return nil, fmt.Errorf("%s (master at %s; give --token-file)", msg, c.base)
		case http.StatusNotFound, http.StatusConflict, http.StatusBadRequest:
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("master at %s: %s %s: %s", c.base, method, path, msg)
	}
	return b, nil
}

func (c *opClient) get(ctx context.Context, path string, into any) ([]byte, error) {
	b, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return nil, err
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			return nil, fmt.Errorf("master at %s: GET %s: unexpected answer: %v", c.base, path, err)
		}
	}
	return b, nil
}

func (c *opClient) post(ctx context.Context, path string, into any) ([]byte, error) {
	b, err := c.do(ctx, http.MethodPost, path)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return nil, fmt.Errorf("master at %s: POST %s: unexpected answer: %v", c.base, path, err)
	}
	return b, nil
}

// setup parses flags, checks them (extra registers the command's own
// flags and returns their rules) and builds the client.
func setup(name string, args []string, extra func(fs *flag.FlagSet) []flagRule, positional ...string) (*opFlags, *opClient, []string, error) {
	f := newOpFlags(name)
	var rules []flagRule
	if extra != nil {
		rules = extra(f.fs)
	}
	pos, err := f.parse(args, positional...)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkFlags(f.fs, rules...); err != nil {
		return nil, nil, nil, err
	}
	if err := f.sec.check(f.fs); err != nil {
		return nil, nil, nil, err
	}
	c, err := f.client()
	if err != nil {
		return nil, nil, nil, err
	}
	return f, c, pos, nil
}

// checkStateFilter takes what the master's /tasks?state= takes: a task
// state (TASK_RUNNING or running), live, ended, or nothing.
func checkStateFilter(v any) error {
	s := v.(string)
	if s == "" || s == "live" || s == "ended" {
		return nil
	}
	if _, err := mezzo.ParseTaskState(s); err != nil {
		return errors.New("want a task state such as TASK_RUNNING or running, or live, or ended")
	}
	return nil
}

// checkDeadline takes what the master's drain takes: a duration from now
// (not negative) or an RFC 3339 time, or nothing.
func checkDeadline(v any) error {
	s := v.(string)
	if s == "" {
		return nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return errors.New("a negative duration is in the past")
		}
		return nil
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return errors.New("want a duration such as 30m or an RFC 3339 time such as 2027-01-02T15:04:05Z")
	}
	return nil
}

func writeRaw(w io.Writer, b []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		_, err = w.Write(b)
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

// num formats a quantity without trailing zeros.
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// resNames is the sorted union of the resource names in the maps.
func resNames(ms ...map[string]float64) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func countsString(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func opStatus(ctx context.Context, w io.Writer, args []string) error {
	f, c, _, err := setup("status", args, nil)
	if err != nil {
		return err
	}
	var st master.StateJSON
	b, err := c.get(ctx, "/state", &st)
	if err != nil {
		return err
	}
	if *f.json {
		return writeRaw(w, b)
	}
	s := st.Summary
	role := "standby"
	if st.Leader {
		role = "leader"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "master\t%s (%s) at %s\n", st.MasterID, role, c.base)
	fmt.Fprintf(tw, "policy\t%s\n", st.Policy)
	fmt.Fprintf(tw, "agents\t%d active, %d draining, %d unreachable\n", s.AgentsActive, s.AgentsDraining, s.AgentsUnreachable)
	fmt.Fprintf(tw, "frameworks\t%d active, %d disconnected, %d removed\n", s.FrameworksActive, s.FrameworksInactive, s.FrameworksRemoved)
	fmt.Fprintf(tw, "offers\t%d outstanding\n", s.OffersOutstanding)
	fmt.Fprintf(tw, "live tasks\t%s\n", countsString(s.LiveTasks))
	fmt.Fprintf(tw, "ended tasks\t%s\n", countsString(s.EndedTasks))
	fmt.Fprintf(tw, "updates unacknowledged\t%d\n", s.PendingAcks)
	fmt.Fprintf(tw, "\nRESOURCE\tTOTAL\tUSED\tOFFERED\tFREE\n")
	r := s.Resources
	for _, n := range resNames(r.Total, r.Used, r.Offered, r.Free) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n, num(r.Total[n]), num(r.Used[n]), num(r.Offered[n]), num(r.Free[n]))
	}
	return tw.Flush()
}

func agentStatus(a master.AgentJSON) string {
	s := "connected"
	if !a.Connected {
		s = "unreachable"
	}
	if a.Draining {
		s += ",draining"
	}
	return s
}

func opAgents(ctx context.Context, w io.Writer, args []string) error {
	var offset, limit int
	f, c, _, err := setup("agents", args, func(fs *flag.FlagSet) []flagRule {
		fs.IntVar(&offset, "offset", 0, "skip this many agents (sorted by ID)")
		fs.IntVar(&limit, "limit", 0, "show at most this many agents (0: all)")
		return []flagRule{nonNegative("offset"), nonNegative("limit")}
	})
	if err != nil {
		return err
	}
	q := url.Values{}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var page struct {
		Total  int                `json:"total"`
		Agents []master.AgentJSON `json:"agents"`
	}
	b, err := c.get(ctx, "/agents?"+q.Encode(), &page)
	if err != nil {
		return err
	}
	if *f.json {
		return writeRaw(w, b)
	}
	totals := make([]map[string]float64, len(page.Agents))
	for i, a := range page.Agents {
		totals[i] = a.Total
	}
	names := resNames(totals...)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "ID\tHOSTNAME\tSTATUS\tTASKS")
	for _, n := range names {
		fmt.Fprintf(tw, "\t%s USED/TOTAL", strings.ToUpper(n))
	}
	fmt.Fprintln(tw)
	for _, a := range page.Agents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d", a.ID, a.Hostname, agentStatus(a), a.LiveTasks)
		for _, n := range names {
			fmt.Fprintf(tw, "\t%s/%s", num(a.Used[n]), num(a.Total[n]))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(page.Agents) < page.Total {
		fmt.Fprintf(w, "(%d of %d agents; see --offset and --limit)\n", len(page.Agents), page.Total)
	}
	return nil
}

func opFrameworks(ctx context.Context, w io.Writer, args []string) error {
	f, c, _, err := setup("frameworks", args, nil)
	if err != nil {
		return err
	}
	var body struct {
		Frameworks []master.FrameworkJSON `json:"frameworks"`
	}
	b, err := c.get(ctx, "/frameworks", &body)
	if err != nil {
		return err
	}
	if *f.json {
		return writeRaw(w, b)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATUS\tSHARE\tLIVE TASKS\tUSED\tOFFERS\tLAUNCHED\tENDED")
	for _, fw := range body.Frameworks {
		st := "connected"
		switch {
		case fw.Removed:
			st = "removed"
		case !fw.Connected:
			st = "disconnected"
		}
		if fw.Suppressed {
			st += ",suppressed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f\t%d\t%s\t%d\t%d\t%s\n", fw.ID, fw.Name, fw.Role, st, fw.DominantShare,
			fw.LiveTasks, resString(fw.Used), fw.Offers, fw.TasksLaunched, countsString(fw.TasksEnded))
	}
	return tw.Flush()
}

// resString writes resources as mezzo's "cpus:1;mem:128".
func resString(m map[string]float64) string {
	if len(m) == 0 {
		return "-"
	}
	names := resNames(m)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ":" + num(m[n])
	}
	return strings.Join(parts, ";")
}

// taskQuery lists tasks matching the filters (all when empty).
func taskQuery(ctx context.Context, c *opClient, fw, agent, state string) ([]master.TaskJSON, []byte, error) {
	q := url.Values{}
	for k, v := range map[string]string{"framework": fw, "agent": agent, "state": state} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var body struct {
		Tasks []master.TaskJSON `json:"tasks"`
	}
	b, err := c.get(ctx, "/tasks?"+q.Encode(), &body)
	return body.Tasks, b, err
}

func opTasks(ctx context.Context, w io.Writer, args []string) error {
	var fw, agent, state string
	f, c, _, err := setup("tasks", args, func(fs *flag.FlagSet) []flagRule {
		fs.StringVar(&fw, "framework", "", "only this framework's tasks")
		fs.StringVar(&agent, "agent", "", "only tasks on this agent")
		fs.StringVar(&state, "state", "", "only tasks in this state (TASK_RUNNING or running), or live, or ended")
		return []flagRule{custom("state", checkStateFilter)}
	})
	if err != nil {
		return err
	}
	tasks, b, err := taskQuery(ctx, c, fw, agent, state)
	if err != nil {
		return err
	}
	if *f.json {
		return writeRaw(w, b)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tFRAMEWORK\tAGENT\tSTATE\tUPDATED\tRESOURCES\tMESSAGE")
	now := time.Now()
	for _, t := range tasks {
		age := "-"
		if !t.Updated.IsZero() {
			age = now.Sub(t.Updated).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, orDash(t.Name), t.Framework, t.Agent, t.State, age, resString(t.Resources), orDash(oneLine(t.Message)))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// findTask finds the task an operator names: live ones first, and the
// framework must be named when the ID is ambiguous.
func findTask(ctx context.Context, c *opClient, id, fw string) (master.TaskJSON, error) {
	tasks, _, err := taskQuery(ctx, c, fw, "", "")
	if err != nil {
		return master.TaskJSON{}, err
	}
	var live, ended []master.TaskJSON
	for _, t := range tasks {
		if t.ID != id {
			continue
		}
		if st, err := mezzo.ParseTaskState(t.State); err == nil && st.Terminal() {
			ended = append(ended, t)
		} else {
			live = append(live, t)
		}
	}
	cands := live
	if len(cands) == 0 {
		cands = ended
	}
	switch len(cands) {
	case 0:
		if fw != "" {
			return master.TaskJSON{}, fmt.Errorf("no task %s in framework %s", id, fw)
		}
		return master.TaskJSON{}, fmt.Errorf("no task %s", id)
	case 1:
		return cands[0], nil
	}
	fws := make([]string, len(cands))
	for i, t := range cands {
		fws[i] = t.Framework
	}
	return master.TaskJSON{}, fmt.Errorf("task %s exists in several frameworks (%s): name one with --framework", id, strings.Join(fws, ", "))
}

func opKill(ctx context.Context, w io.Writer, args []string) error {
	var fw string
	var wait time.Duration
	f, c, pos, err := setup("kill", args, func(fs *flag.FlagSet) []flagRule {
		fs.StringVar(&fw, "framework", "", "the task's framework (needed when several frameworks use the ID)")
		fs.DurationVar(&wait, "wait", 0, "wait this long for the task to end and print its final state (0: return once the kill is sent)")
		return []flagRule{nonNegative("wait")}
	}, "task")
	if err != nil {
		return err
	}
	id := pos[0]
	path := "/api/v1/tasks/" + url.PathEscape(id) + "/kill"
	if fw != "" {
		path += "?framework=" + url.QueryEscape(fw)
	}
	var res master.KillResult
	b, err := c.post(ctx, path, &res)
	if err != nil {
		return err
	}
	if *f.json && wait == 0 {
		return writeRaw(w, b)
	}
	fmt.Fprintf(w, "kill sent to task %s of framework %s on agent %s (was %s)\n", res.Task, res.Framework, res.Agent, res.State)
	if wait <= 0 {
		return nil
	}
	deadline := time.Now().Add(wait)
	for {
		t, err := findTask(ctx, c, res.Task, res.Framework)
		if err != nil {
			return err
		}
		if st, err := mezzo.ParseTaskState(t.State); err == nil && st.Terminal() {
			fmt.Fprintf(w, "task %s: %s%s\n", t.ID, t.State, suffix(t.Message))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("task %s is still %s after %v", t.ID, t.State, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + oneLine(msg) + ")"
}

func opLogs(ctx context.Context, w io.Writer, args []string) error {
	var fw string
	var stderr, follow bool
	var tail int
	var every time.Duration
	_, c, pos, err := setup("logs", args, func(fs *flag.FlagSet) []flagRule {
		fs.StringVar(&fw, "framework", "", "the task's framework (needed when several frameworks use the ID)")
		fs.BoolVar(&stderr, "stderr", false, "show the task's stderr instead of its stdout")
		fs.IntVar(&tail, "tail", 64<<10, "show at most the last this many bytes")
		fs.BoolVar(&follow, "follow", false, "keep printing new output until the task ends")
		fs.DurationVar(&every, "poll", time.Second, "how often --follow asks for new output")
		return []flagRule{nonNegative("tail"), positive("poll")}
	}, "task")
	if err != nil {
		return err
	}
	t, err := findTask(ctx, c, pos[0], fw)
	if err != nil {
		return err
	}
	if t.Sandbox == "" {
		return fmt.Errorf("task %s: its agent %s has no HTTP server, so its sandbox cannot be read (start the agent with --http)", t.ID, t.Agent)
	}
	path := t.Sandbox
	if stderr {
		path = strings.TrimSuffix(path, "stdout") + "stderr"
	}
	b, err := c.get(ctx, path+"?tail="+strconv.Itoa(tail), nil)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	// The sandbox endpoint serves tails, not offsets: each poll reads a
	// window and prints what follows the end of the last one.
	const window = 256 << 10
	last := b
	for {
		st, err := mezzo.ParseTaskState(t.State)
		ended := err == nil && st.Terminal()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
		nb, err := c.get(ctx, path+"?tail="+strconv.Itoa(window), nil)
		if err != nil {
			return err
		}
		if _, err := w.Write(newOutput(last, nb)); err != nil {
			return err
		}
		last = nb
		if ended {
			return nil // one last read after the task ended
		}
		if t, err = findTask(ctx, c, t.ID, t.Framework); err != nil {
			return err
		}
	}
}

// newOutput is the part of cur, a tail of a growing file, that follows
// prev, an earlier tail: cur starts with prev while the file fits in a
// window; past that, prev's last 4 KiB are looked for in cur. When they
// are not there (more was written than a window), all of cur is new.
func newOutput(prev, cur []byte) []byte {
	if len(prev) == 0 {
		return cur
	}
	if bytes.HasPrefix(cur, prev) { // the file is still smaller than a window
		return cur[len(prev):]
	}
	k := min(len(prev), 4096)
	end := prev[len(prev)-k:]
	if i := bytes.LastIndex(cur, end); i >= 0 {
		return cur[i+k:]
	}
	return cur
}

func opDrain(ctx context.Context, w io.Writer, args []string) error {
	var deadline string
	f, c, pos, err := setup("drain", args, func(fs *flag.FlagSet) []flagRule {
		fs.StringVar(&deadline, "deadline", "", "when the agent goes down: a duration from now (30m) or an RFC 3339 time; passed to the frameworks")
		return []flagRule{custom("deadline", checkDeadline)}
	}, "agent")
	if err != nil {
		return err
	}
	path := "/api/v1/agents/" + url.PathEscape(pos[0]) + "/drain"
	if deadline != "" {
		path += "?deadline=" + url.QueryEscape(deadline)
	}
	var res master.DrainResult
	b, err := c.post(ctx, path, &res)
	if err != nil {
		return err
	}
	if *f.json {
		return writeRaw(w, b)
	}
	again := ""
	if res.Already {
		again = " (already draining; frameworks asked again)"
	}
	fmt.Fprintf(w, "agent %s (%s) is draining: it gets no new offers%s\n", res.Agent, res.Hostname, again)
	if res.Deadline != nil {
		fmt.Fprintf(w, "deadline %s (in %v)\n", res.Deadline.Format(time.RFC3339), time.Until(*res.Deadline).Round(time.Second))
	}
	if len(res.Frameworks) == 0 {
		fmt.Fprintln(w, "no framework runs tasks there")
		return nil
	}
	fmt.Fprintln(w, "frameworks asked to move their tasks:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FRAMEWORK\tNAME\tTOLD\tTASKS")
	for _, fw := range res.Frameworks {
		told := "yes"
		if !fw.Connected {
			told = "no (disconnected)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", fw.ID, fw.Name, told, strings.Join(fw.Tasks, ","))
	}
	return tw.Flush()
}

func opUndrain(ctx context.Context, w io.Writer, args []string) error {
	f, c, pos, err := setup("undrain", args, nil, "agent")
	if err != nil {
		return err
	}
	var res master.UndrainResult
	b, err := c.post(ctx, "/api/v1/agents/"+url.PathEscape(pos[0])+"/undrain", &res)
	if err != nil {
		return err
	}
	if *f.json {
		return writeRaw(w, b)
	}
	if res.Offering {
		fmt.Fprintf(w, "agent %s undrained: offers resume\n", res.Agent)
	} else {
		fmt.Fprintf(w, "agent %s undrained: offers resume when it reconnects\n", res.Agent)
	}
	return nil
}
