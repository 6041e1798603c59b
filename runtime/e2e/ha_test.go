package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/etcdtest"
)

// Helpers for the fault-tolerance tests: masters elected on an embedded
// etcd (etcdtest, running inside the test process: no binary to install,
// and Proxy can partition one master from it) run as OS processes with
// fixed ports, so they can be killed with -9 and restarted on the same
// addresses that agents and frameworks were given.

// freeAddr reserves a loopback port by listening on it and closing it.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startEtcd runs an embedded etcd for one test.
func startEtcd(t *testing.T) *etcdtest.Server {
	t.Helper()
	e, err := etcdtest.Start(filepath.Join(t.TempDir(), "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { within(t, "closing etcd", 20*time.Second, e.Close) })
	return e
}

// haMaster is one `mezzo master --etcd` process; restart runs it again on
// the same addresses.
type haMaster struct {
	name       string
	addr, http string
	etcd       string
	p          *proc
}

func newHAMaster(t *testing.T, name, etcd string) *haMaster {
	return &haMaster{name: name, addr: freeAddr(t), http: freeAddr(t), etcd: etcd}
}

func (m *haMaster) start(t *testing.T) {
	t.Helper()
	m.p = start(t, "master", "--listen", m.addr, "--http", m.http, "--etcd", m.etcd, "--etcd-prefix", "/mezzo-e2e",
		"--lease-ttl", "2s", "--log-format", "json", "--log-level", "debug", "--failover-timeout", "2m",
		"--ping-interval", "200ms", "--ping-timeout", "3s", "--allocation-interval", "200ms")
}

func (m *haMaster) alive() bool { return m.p != nil && !m.p.Exited() }

// logLine is one JSON log record of a master.
type logLine struct {
	Time  time.Time `json:"time"`
	Msg   string    `json:"msg"`
	Epoch int64     `json:"epoch"`
	Why   string    `json:"why"`
}

// logs parses the master's JSON logs (non-JSON lines are skipped).
func (m *haMaster) logs() []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(m.p.Output()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg != "" {
			out = append(out, l)
		}
	}
	return out
}

// first returns the first log record with msg, if any.
func (m *haMaster) first(msg string) (logLine, bool) {
	for _, l := range m.logs() {
		if l.Msg == msg {
			return l, true
		}
	}
	return logLine{}, false
}

var httpc = &http.Client{Timeout: 3 * time.Second}

func getJSON(url string, v any) error {
	resp, err := httpc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// state reads the master's /state.
func (m *haMaster) state() (master.StateJSON, error) {
	var s master.StateJSON
	err := getJSON("http://"+m.http+"/state", &s)
	return s, err
}

// isLeader asks /health.
func (m *haMaster) isLeader() bool {
	var h struct {
		Leader bool `json:"leader"`
	}
	return getJSON("http://"+m.http+"/health", &h) == nil && h.Leader
}

// leaderOf waits until exactly one live master leads and returns it.
func leaderOf(t *testing.T, ms []*haMaster, timeout time.Duration) *haMaster {
	t.Helper()
	var lead *haMaster
	eventually(t, "a leader", timeout, func() bool {
		lead = nil
		n := 0
		for _, m := range ms {
			if m.alive() && m.isLeader() {
				lead, n = m, n+1
			}
		}
		return n == 1
	})
	return lead
}

func masterList(ms []*haMaster) string {
	var a []string
	for _, m := range ms {
		a = append(a, m.addr)
	}
	return strings.Join(a, ",")
}

// startHAAgent runs an agent that knows every master and etcd.
func startHAAgent(t *testing.T, masters, etcd, resources, workDir string, extra ...string) *proc {
	t.Helper()
	args := []string{"agent", "--master", masters, "--etcd", etcd, "--resources", resources, "--work-dir", workDir, "--isolation", "process", "--log-level", "debug"}
	return start(t, append(args, extra...)...)
}

// tracker is a framework that launches short tasks, numbered, until it
// has launched max, and records every status update by task ID, so a test
// can check that each task reached exactly one terminal state.
type tracker struct {
	name string
	need mezzo.Resources
	cmd  string
	max  int

	mu       sync.Mutex
	seq      int
	launched map[mezzo.TaskID]int                     // launch count per task
	terminal map[mezzo.TaskID]map[mezzo.TaskState]int // terminal updates, reconciliation answers included
	latest   map[mezzo.TaskID]mezzo.TaskStatus        // latest update of any kind
	endedWhy map[mezzo.TaskID]mezzo.Reason            // reason of the first terminal update
	recon    map[mezzo.TaskID][]mezzo.TaskStatus      // reconciliation answers
	regs     int
	paused   bool
}

func newTracker(name, cmd string, max int) *tracker {
	return &tracker{name: name, cmd: cmd, max: max, need: mezzo.MustParseResources("cpus:0.25;mem:16"),
		launched: map[mezzo.TaskID]int{}, terminal: map[mezzo.TaskID]map[mezzo.TaskState]int{}, endedWhy: map[mezzo.TaskID]mezzo.Reason{},
		latest: map[mezzo.TaskID]mezzo.TaskStatus{}, recon: map[mezzo.TaskID][]mezzo.TaskStatus{}}
}

// Registered counts registrations. The driver reconciles the tasks not
// seen to end after each re-subscription (driver.Config.Reconcile), as a
// Mesos framework must after a failover: a launch accepted by a leader
// that died before passing it on is heard of no other way. The master's
// answer is final (a TASK_LOST for a task it does not know stays the
// task's end), so a terminal answer counts as the task's end.
func (k *tracker) Registered(mezzo.Driver, mezzo.FrameworkID) { k.mu.Lock(); k.regs++; k.mu.Unlock() }

func (k *tracker) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, o := range offers {
		var tasks []mezzo.TaskInfo
		left := o.Resources
		for !k.paused && k.seq < k.max && left.Contains(k.need) {
			k.seq++
			id := mezzo.TaskID(fmt.Sprintf("%s-%d", k.name, k.seq))
			k.launched[id]++
			tasks = append(tasks, mezzo.TaskInfo{ID: id, AgentID: o.AgentID, Resources: k.need,
				Command: &mezzo.CommandInfo{Value: k.cmd, Shell: true}})
			left = left.Sub(k.need)
		}
		if len(tasks) == 0 {
			_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: 500 * time.Millisecond})
			continue
		}
		_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, tasks, mezzo.Filters{Refuse: -1})
	}
}

func (k *tracker) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}

func (k *tracker) StatusUpdate(_ mezzo.Driver, st mezzo.TaskStatus) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.latest[st.TaskID] = st
	if st.Reason == mezzo.ReasonReconciliation {
		k.recon[st.TaskID] = append(k.recon[st.TaskID], st)
	}
	if st.State.Terminal() {
		if k.terminal[st.TaskID] == nil {
			k.terminal[st.TaskID] = map[mezzo.TaskState]int{}
			k.endedWhy[st.TaskID] = st.Reason
		}
		k.terminal[st.TaskID][st.State]++
	}
}

func (k *tracker) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (k *tracker) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (k *tracker) Error(mezzo.Driver, string)                                             {}

// done counts launched tasks that reached a terminal state.
func (k *tracker) done() (launched, ended int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id := range k.launched {
		if len(k.terminal[id]) > 0 {
			ended++
		}
	}
	return len(k.launched), ended
}

// check reports every task that was launched more than once, reached more
// than one distinct terminal state, or none (when wantAllEnded), and how
// many terminal updates were delivered again (at-least-once delivery).
func (k *tracker) check(wantAllEnded bool) (problems []string, states map[mezzo.TaskState]int, redelivered int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	states = map[mezzo.TaskState]int{}
	var ids []string
	for id := range k.launched {
		ids = append(ids, string(id))
	}
	sort.Strings(ids)
	for _, s := range ids {
		id := mezzo.TaskID(s)
		if n := k.launched[id]; n != 1 {
			problems = append(problems, fmt.Sprintf("%s launched %d times", id, n))
		}
		ts := k.terminal[id]
		switch {
		case len(ts) > 1:
			problems = append(problems, fmt.Sprintf("%s reached %d terminal states: %v", id, len(ts), ts))
		case len(ts) == 0 && wantAllEnded:
			problems = append(problems, fmt.Sprintf("%s never reached a terminal state (latest %v)", id, k.latest[id].State))
		}
		for st, n := range ts {
			states[st]++
			redelivered += n - 1
		}
	}
	for id := range k.terminal {
		if k.launched[id] == 0 {
			problems = append(problems, fmt.Sprintf("terminal update for %s, which was never launched", id))
		}
	}
	return problems, states, redelivered
}

// startHADriver runs a framework against every master.
func startHADriver(t *testing.T, masters string, info mezzo.FrameworkInfo, s mezzo.Scheduler) *driver.Driver {
	t.Helper()
	d, err := driver.New(driver.Config{Master: masters, Framework: info, Logger: quiet, MaxBackoff: time.Second, Reconcile: true}, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { within(t, "stopping the driver", 20*time.Second, func() { _ = d.Stop(false) }) })
	return d
}
