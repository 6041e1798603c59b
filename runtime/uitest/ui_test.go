package uitest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/agent"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/runtime/executor"
	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// TestMain doubles as the executor binary the agent starts for command
// tasks (MEZZO_TEST_EXECUTOR=1: `uitest.test executor --kind command`).
func TestMain(m *testing.M) {
	if os.Getenv("MEZZO_TEST_EXECUTOR") == "1" {
		kind := ""
		for i, a := range os.Args {
			if a == "--kind" && i+1 < len(os.Args) {
				kind = os.Args[i+1]
			}
		}
		reg := map[string]func() mezzo.Executor{agent.CommandKind: func() mezzo.Executor { return executor.NewCommand() }}
		if err := executor.RunKind(context.Background(), kind, reg); err != nil {
			fmt.Fprintln(os.Stderr, "executor:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const chromiumPath = "/usr/bin/chromium"

// commandScheduler launches one shell command on the first offer that
// fits and declines everything else.
type commandScheduler struct {
	cmd string

	mu       sync.Mutex
	launched bool
	running  chan struct{}
}

func (s *commandScheduler) Registered(mezzo.Driver, mezzo.FrameworkID) {}
func (s *commandScheduler) ResourceOffers(d mezzo.Driver, offers []mezzo.Offer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range offers {
		if !s.launched && o.Resources.Contains(mezzo.MustParseResources("cpus:0.5;mem:64")) {
			s.launched = true
			t := mezzo.TaskInfo{ID: "hello-1", Name: "hello", Resources: mezzo.MustParseResources("cpus:0.5;mem:64"),
				Command: &mezzo.CommandInfo{Value: s.cmd, Shell: true}}
			_ = d.LaunchTasks([]mezzo.OfferID{o.ID}, []mezzo.TaskInfo{t}, mezzo.Filters{})
			continue
		}
		_ = d.DeclineOffer(o.ID, mezzo.Filters{Refuse: time.Minute})
	}
}
func (s *commandScheduler) OfferRescinded(mezzo.Driver, mezzo.OfferID) {}
func (s *commandScheduler) StatusUpdate(_ mezzo.Driver, st mezzo.TaskStatus) {
	if st.State == mezzo.TaskRunning {
		select {
		case <-s.running:
		default:
			close(s.running)
		}
	}
}
func (s *commandScheduler) FrameworkMessage(mezzo.Driver, mezzo.ExecutorID, mezzo.AgentID, []byte) {}
func (s *commandScheduler) AgentLost(mezzo.Driver, mezzo.AgentID)                                  {}
func (s *commandScheduler) Error(mezzo.Driver, string)                                             {}

// cluster is a live master, agent and framework.
type cluster struct {
	ui      string // base URL of the master's HTTP server
	agentID mezzo.AgentID
	fw      mezzo.FrameworkID
}

func startCluster(t *testing.T, command string) cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", AllocationInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := m.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	httpAddr, err := m.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	// The agent's HTTP server comes first: its address goes to the master
	// as an attribute.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Master: addr, Hostname: "ui-host", Resources: mezzo.MustParseResources("cpus:2;mem:512"),
		Attributes: []mezzo.Attribute{{Name: master.AgentHTTPAttribute, Value: lis.Addr().String()}},
		WorkDir:    t.TempDir(), ExecutorPath: exe, ExecutorArgs: []string{"executor"}, ExecutorEnv: []string{"MEZZO_TEST_EXECUTOR=1"},
		KillGracePeriod: 500 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler()}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	agentDone := make(chan struct{})
	go func() { defer close(agentDone); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-agentDone })

	sched := &commandScheduler{cmd: command, running: make(chan struct{})}
	d, err := driver.New(driver.Config{Master: addr, Framework: mezzo.FrameworkInfo{Name: "hello-framework"}, Logger: quiet}, sched)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(false) })
	select {
	case <-sched.running:
	case <-time.After(20 * time.Second):
		t.Fatal("the command task never reached TASK_RUNNING")
	}
	v, err := m.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return cluster{ui: "http://" + httpAddr, agentID: a.ID(), fw: v.Frameworks[0].ID}
}

// browser starts headless Chromium with the flags this machine needs (no
// sandbox as root; no background networking, which the closed network
// refuses) and a fresh profile, and returns a context for its tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found (%v): install Chromium with `apt-get install -y chromium` to run the browser tests", chromiumPath, err)
	}
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Skipf("%s is not executable: %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	// The first run starts the browser and must not carry a timeout: that
	// would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return ctx
}

// page runs browser steps with a deadline and fails the test on error.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p page) text(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// screenshot saves the page as PNG in dir (and in $MEZZO_UI_SCREENSHOTS).
func (p page) screenshot(dir, name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	// Quality 100 makes a PNG; anything less, a JPEG.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	if keep := os.Getenv("MEZZO_UI_SCREENSHOTS"); keep != "" {
		if err := os.MkdirAll(keep, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(keep, name), png, 0o644)
		}
	}
	p.t.Logf("screenshot: %s", path)
	return path
}

func TestOverviewAndSandboxInChromium(t *testing.T) {
	p := page{t: t, ctx: browser(t)}
	c := startCluster(t, "echo hello from the sandbox; echo oops >&2; sleep 30")
	shots := t.TempDir()

	// The overview: the agent counted, the framework listed, the running
	// task counted.
	p.do("overview", chromedp.Navigate(c.ui+"/"), chromedp.WaitVisible(chromedp.CSS(`#frameworks tr.framework`)))
	agents, running, frameworks, policy := p.text(`#agents-active`), p.text(`#live-tasks`), p.text(`#frameworks`), p.text(`#policy`)
	p.screenshot(shots, "overview.png")
	if strings.TrimSpace(agents) != "1" {
		t.Errorf("overview shows %q active agents, want 1", agents)
	}
	if !strings.Contains(running, "TASK_RUNNING") || !strings.Contains(running, "1") {
		t.Errorf("overview live tasks = %q, want TASK_RUNNING 1", running)
	}
	if !strings.Contains(frameworks, "hello-framework") {
		t.Errorf("overview frameworks = %q, want hello-framework", frameworks)
	}
	if policy != "drf" {
		t.Errorf("overview policy = %q, want drf", policy)
	}

	// Agents list, then the agent, then its task's sandbox, by clicks.
	p.do("open the agents page", chromedp.Click(chromedp.CSS(`header a[href="/ui/agents"]`)), chromedp.WaitVisible(chromedp.CSS(`#agents tr.agent`)))
	agentRows := p.text(`#agents`)
	p.do("open the agent", chromedp.Click(chromedp.CSS(`#agents tr.agent a`)), chromedp.WaitVisible(chromedp.CSS(`table.tasks tr.task`)))
	taskRows := p.text(`table.tasks`)
	p.do("open the sandbox", chromedp.Click(chromedp.CSS(`table.tasks tr.task a.sandbox`)), chromedp.WaitVisible(chromedp.CSS(`#stdout`)))
	stdout, stderr := p.text(`#stdout`), p.text(`#stderr`)
	p.screenshot(shots, "sandbox.png")
	if !strings.Contains(agentRows, string(c.agentID)) || !strings.Contains(agentRows, "ui-host") {
		t.Errorf("agents page = %q, want agent %s on ui-host", agentRows, c.agentID)
	}
	if !strings.Contains(taskRows, "hello-1") || !strings.Contains(taskRows, "RUNNING") {
		t.Errorf("agent page tasks = %q, want hello-1 RUNNING", taskRows)
	}
	if !strings.Contains(stdout, "hello from the sandbox") {
		t.Errorf("sandbox stdout = %q, want the command's output", stdout)
	}
	if !strings.Contains(stderr, "oops") {
		t.Errorf("sandbox stderr = %q, want the command's error output", stderr)
	}
}
