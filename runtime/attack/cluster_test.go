package attack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/mezzo-cluster/mezzo/runtime/internal/proctest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/mezzo-cluster/mezzo/runtime/security"
)

var mezzoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mezzo-attack-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Tasks run as nobody: the binary they re-execute (the command
	// executor) must be reachable by every user.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mezzoBin = filepath.Join(dir, "mezzo")
	build := exec.Command("go", "build", "-o", mezzoBin, "github.com/mezzo-cluster/mezzo/cmd/mezzo")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mezzo:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// slow skips a probe that takes more than a few seconds unless the whole
// suite was asked for (make attack, .ci/run).
func slow(t *testing.T) {
	t.Helper()
	if os.Getenv("MEZZO_ATTACK") != "all" {
		t.Skip("slow probe: run it with make attack (MEZZO_ATTACK=all)")
	}
}

// needRoot skips a probe that needs root (switching task users, cgroups).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: tasks run as the agent's own user otherwise, and no tenant is separated from another")
	}
}

// The principals of the test cluster.
const (
	tenantA = "tenant-a"
	tenantB = "tenant-b"
	admin   = "admin"
)

// aclJSON is the cluster's ACL: each tenant its own role, both may run
// tasks as nobody and view state; only admin acts on others' frameworks.
const aclJSON = `{
  "register_frameworks": [
    {"principals": ["tenant-a"], "roles": ["a"]},
    {"principals": ["tenant-b"], "roles": ["b"]}
  ],
  "run_tasks": [{"principals": ["tenant-a", "tenant-b"], "users": ["nobody"]}],
  "register_agents": [{"principals": ["agent"]}],
  "view_state": [{"principals": ["admin", "tenant-a", "tenant-b"]}],
  "read_sandbox": [{"principals": ["admin"], "framework_principals": ["ANY"]}],
  "kill_tasks": [{"principals": ["admin"], "framework_principals": ["ANY"]}],
  "teardown_frameworks": [{"principals": ["admin"], "framework_principals": ["ANY"]}],
  "drain_agents": [{"principals": ["admin"]}]
}`

// proc is a mezzo process the probe started.
type proc = proctest.Proc

// cgroupSeq makes every agent's cgroup parent unique.
var cgroupSeq atomic.Int64

// start runs the mezzo binary with args until the test ends.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return proctest.Start(t, mezzoBin, name, args...)
}

// eventually polls cond every 20 ms until it holds or d passes.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits for re to match p's output and returns the first group.
func waitLog(t *testing.T, p *proc, what string, re *regexp.Regexp, d time.Duration) string {
	t.Helper()
	var got string
	eventually(t, what, d, func() bool {
		if m := re.FindStringSubmatch(p.Output()); m != nil {
			got = m[1]
			return true
		}
		if p.Exited() {
			t.Fatalf("%s exited while waiting for %s:\n%s", p.Name, what, p.Output())
		}
		return false
	})
	return got
}

var (
	grpcListenRE = regexp.MustCompile(`msg="master started".* listen=(\S+)`)
	httpListenRE = regexp.MustCompile(`msg="http serving".* listen=(\S+)`)
	registeredRE = regexp.MustCompile(`msg="registered with master" agent=(\S+)`)
)

// clusterOptions shape a test cluster; zero values take the defaults.
type clusterOptions struct {
	Agents    int    // default 1
	Resources string // each agent's; default "cpus:2;mem:512;disk:256"
	// Isolation is the agents' isolator; default cgroups when root,
	// process otherwise.
	Isolation  string
	MasterArgs []string // more `mezzo master` flags
	AgentArgs  []string // more `mezzo agent` flags
}

// cluster is a secured mezzo cluster on loopback.
type cluster struct {
	t      *testing.T
	dir    string
	certs  string
	tokens map[string]string // principal → bearer token
	opts   clusterOptions

	master             *proc
	masterArgs         []string
	grpcAddr, httpAddr string
	agents             []*agentProc
}

// agentProc is one agent of the cluster.
type agentProc struct {
	*proc
	id      string
	workDir string
	args    []string
}

// newCluster writes certificates (`mezzo certs init`), credentials and the
// ACL, and starts a master and the agents; it returns once every agent has
// registered.
func newCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	if opts.Agents == 0 {
		opts.Agents = 1
	}
	if opts.Resources == "" {
		opts.Resources = "cpus:2;mem:512;disk:256"
	}
	if opts.Isolation == "" {
		opts.Isolation = "process"
		if os.Geteuid() == 0 {
			opts.Isolation = "cgroups"
		}
	}
	// Not t.TempDir: its parent is 0700, and tasks run as nobody must
	// reach their sandboxes under the agents' work dirs.
	dir, err := os.MkdirTemp("", "mezzo-attack-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dir: dir, certs: filepath.Join(dir, "certs"), tokens: map[string]string{}, opts: opts}
	out, err := exec.Command(mezzoBin, "certs", "init", c.certs, "--principals", tenantA+","+tenantB).CombinedOutput()
	if err != nil {
		t.Fatalf("mezzo certs init: %v\n%s", err, out)
	}
	type cred struct {
		Principal string `json:"principal"`
		Secret    string `json:"secret"`
	}
	var creds struct {
		Credentials []cred `json:"credentials"`
	}
	for _, p := range []string{tenantA, tenantB, admin, "agent"} {
		c.tokens[p] = randomToken(t)
		creds.Credentials = append(creds.Credentials, cred{Principal: p, Secret: c.tokens[p]})
		if err := os.WriteFile(c.tokenFile(p), []byte(c.tokens[p]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(creds)
	if err := os.WriteFile(filepath.Join(dir, "credentials.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "acl.json"), []byte(aclJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	c.masterArgs = append([]string{"master", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--tls-cert", c.cert("master"), "--tls-key", c.key("master"), "--tls-ca", c.ca(),
		"--acl", filepath.Join(dir, "acl.json"), "--credentials", filepath.Join(dir, "credentials.json"),
		"--ping-interval", "200ms", "--ping-timeout", "3s", "--allocation-interval", "100ms",
		"--failover-timeout", "30s"}, opts.MasterArgs...)
	c.startMaster()
	for i := 0; i < opts.Agents; i++ {
		c.addAgent()
	}
	return c
}

func randomToken(t *testing.T) string {
	t.Helper()
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func (c *cluster) cert(principal string) string { return filepath.Join(c.certs, principal+".crt") }
func (c *cluster) key(principal string) string  { return filepath.Join(c.certs, principal+".key") }
func (c *cluster) ca() string                   { return filepath.Join(c.certs, "ca.crt") }
func (c *cluster) tokenFile(principal string) string {
	return filepath.Join(c.dir, principal+".token")
}

// startMaster (re)starts the master with the same flags; the address
// changes on every start.
func (c *cluster) startMaster() {
	c.t.Helper()
	c.master = start(c.t, "master", c.masterArgs...)
	c.grpcAddr = waitLog(c.t, c.master, "the master's address", grpcListenRE, 15*time.Second)
	c.httpAddr = waitLog(c.t, c.master, "the master's HTTP address", httpListenRE, 15*time.Second)
}

// restartMaster kills the master with -9 and starts it again on the same
// port, so agents and frameworks find it where it was.
func (c *cluster) restartMaster() {
	c.t.Helper()
	c.master.Kill9(c.t)
	args := append([]string(nil), c.masterArgs...)
	for i := range args {
		switch args[i] {
		case "--listen":
			args[i+1] = c.grpcAddr
		case "--http":
			args[i+1] = c.httpAddr
		}
	}
	c.masterArgs = args
	c.startMaster()
}

// addAgent starts one more agent with the shared agent certificate and
// waits until it has registered.
func (c *cluster) addAgent(extra ...string) *agentProc {
	c.t.Helper()
	n := len(c.agents)
	work := filepath.Join(c.dir, fmt.Sprintf("agent-%d", n))
	args := append([]string{"agent", "--master", c.grpcAddr, "--resources", c.opts.Resources,
		"--work-dir", work, "--isolation", c.opts.Isolation, "--http", "127.0.0.1:0",
		"--cgroup-parent", fmt.Sprintf("mezzo-attack-%d-%d", os.Getpid(), cgroupSeq.Add(1)),
		"--tls-cert", c.cert("agent"), "--tls-key", c.key("agent"), "--tls-ca", c.ca(),
		"--executor-reregister-timeout", "3s"}, c.opts.AgentArgs...)
	args = append(args, extra...)
	a := &agentProc{workDir: work, args: args}
	a.proc = start(c.t, fmt.Sprintf("agent-%d", n), args...)
	a.id = waitLog(c.t, a.proc, "the agent to register", registeredRE, 20*time.Second)
	c.agents = append(c.agents, a)
	return a
}

// dial opens a gRPC connection to the master as principal, with the
// principal's client certificate.
func (c *cluster) dial(principal string) *grpc.ClientConn {
	c.t.Helper()
	cfg, err := security.ClientTLS(security.TLSFiles{Cert: c.cert(principal), Key: c.key(principal), CA: c.ca()}, "")
	if err != nil {
		c.t.Fatal(err)
	}
	return c.dialWith(security.DialOptions(cfg, "")...)
}

// dialToken opens a gRPC connection to the master that verifies it
// against the CA and names the caller with principal's bearer token only.
func (c *cluster) dialToken(principal string) *grpc.ClientConn {
	c.t.Helper()
	cfg, err := security.ClientCAOnlyTLS(c.ca())
	if err != nil {
		c.t.Fatal(err)
	}
	return c.dialWith(security.DialOptions(cfg, c.tokens[principal])...)
}

func (c *cluster) dialWith(opts ...grpc.DialOption) *grpc.ClientConn {
	c.t.Helper()
	conn, err := grpc.NewClient(c.grpcAddr, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// httpGet GETs path on the master's HTTPS server as principal (bearer
// token; "" sends none) and returns the status and body.
func (c *cluster) httpGet(principal, path string) (int, string) {
	c.t.Helper()
	return c.httpDo(http.MethodGet, principal, path, "")
}

// httpDo sends a request with an optional JSON body to the master's HTTPS
// server as principal.
func (c *cluster) httpDo(method, principal, path, body string) (int, string) {
	c.t.Helper()
	authorization := ""
	if principal != "" {
		authorization = "Bearer " + c.tokens[principal]
	}
	return c.httpRequest(method, path, body, authorization)
}

// httpRequest sends a request to the master's HTTPS server with the
// Authorization header given ("" sends none) and returns the status and
// body.
func (c *cluster) httpRequest(method, path, body, authorization string) (int, string) {
	c.t.Helper()
	pool, err := security.LoadCAPool(c.ca())
	if err != nil {
		c.t.Fatal(err)
	}
	cl := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
	defer cl.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "https://"+c.httpAddr+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := cl.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

// runMezzo runs a mezzo command to completion and returns its combined
// output and exit status.
func runMezzo(t *testing.T, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, mezzoBin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mezzo %v did not finish within %v:\n%s", args, timeout, out)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// procCounts reads process pid's threads and open descriptors.
func procCounts(t *testing.T, pid int) (threads, fds int) {
	t.Helper()
	threads, fds, err := proctest.Counts(pid)
	if err != nil {
		t.Fatal(err)
	}
	return threads, fds
}
