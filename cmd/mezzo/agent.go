package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/agent"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

func runAgent(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mezzo agent", flag.ContinueOnError)
	masterAddr := fs.String("master", "127.0.0.1:5050", "the master's address, or several comma-separated (standbys redirect to the leader)")
	etcd := fs.String("etcd", "", "etcd client URLs (comma-separated) to find the leading master in when it is lost")
	resources := fs.String("resources", "", "resources to offer, e.g. 'cpus:4;mem:8192' (default: detected from the machine)")
	attributes := fs.String("attributes", "", "agent attributes, e.g. 'rack:r1;zone:a'")
	workDir := fs.String("work-dir", "", "directory for the agent ID, sandboxes and status updates (required)")
	isolation := fs.String("isolation", "process", "executor isolation: cgroups or process")
	cgroupParent := fs.String("cgroup-parent", "mezzo", "with --isolation cgroups, the parent cgroup of this agent's containers (one per agent on a machine: an agent removes what it finds there that it did not start)")
	hostname := fs.String("hostname", "", "hostname to report (default: the machine's)")
	recoverMode := fs.String("recover", agent.RecoverReconnect, "what to do with the executors a previous run on --work-dir left running: reconnect (adopt them and their tasks) or cleanup (kill them; their tasks are lost)")
	reregister := fs.Duration("executor-reregister-timeout", 5*time.Second, "with --recover=reconnect, how long executors of a previous run have to reconnect before they are killed")
	recoveryTimeout := fs.Duration("executor-recovery-timeout", 15*time.Second, "how long executors wait for this agent when it goes away (crash, restart, upgrade) before ending their tasks; Mesos uses 15m")
	taskUsers := fs.String("task-users", agent.TaskUsersIsolated, "who tasks run as on the host (root agents): isolated (each container in a user namespace of its own, the task's user mapped to a host uid allocated for that container from --container-uid-range, so no two tenants' tasks share a host uid) or host (the real host user, e.g. for shared NFS home directories; tasks of different tenants that run as the same user can then read and signal each other)")
	uidRange := fs.String("container-uid-range", agent.DefaultContainerUIDs.String(), "with --task-users isolated, the host uids (and gids) containers get, FIRST-LAST: no user or group of the machine may have one (checked against /etc/passwd, /etc/group, /etc/subuid, /etc/subgid); agents of one machine share the allocation, through "+agent.DefaultContainerUIDState)
	pidsMax := fs.Int64("container-pids-max", agent.DefaultContainerPidsMax, "the most processes and threads one container may hold (cgroup pids.max), so a fork bomb stays inside its task; with --isolation cgroups")
	enforceDisk := fs.Bool("enforce-container-disk-quota", true, "kill a container whose sandbox uses more disk than its executor and tasks hold, failing them with REASON_CONTAINER_LIMITATION_DISK (false: only measure and log)")
	diskDefault := fs.String("container-disk-default", "1GB", "the disk quota of a container whose executor and tasks declare no disk (bytes, or with B, KB, MB, GB; binary units); 0: none, as in Mesos, which lets a task fill the agent's disk by declaring no disk")
	diskWatch := fs.Duration("container-disk-watch-interval", 15*time.Second, "how often each sandbox's disk usage is measured against its quota")
	logMaxSize := fs.String("container-log-max-size", "10MB", "rotate a command task's stdout and stderr when a file reaches this size (bytes, or with B, KB, MB, GB; binary units)")
	logMaxFiles := fs.Int("container-log-max-files", 2, "how many rotated files of each task output stream to keep (.1 newest, .2, ...)")
	gcDelay := fs.Duration("gc-delay", agent.DefaultGCDelay, "how long the sandbox of an ended executor is kept before it is removed")
	gcHeadroom := fs.Float64("gc-disk-headroom", agent.DefaultGCDiskHeadroom, "remove ended sandboxes sooner as the work dir's disk fills: those older than gc-delay × max(0, 1 − headroom − disk usage) go at every --disk-watch-interval")
	diskInterval := fs.Duration("disk-watch-interval", time.Minute, "how often the work dir's disk usage is checked for sandbox garbage collection")
	keepExecutors := fs.Bool("keep-executors-on-exit", false, "on SIGINT/SIGTERM, leave the executors running for the next agent run to reconnect to (e.g. an upgrade); default: shut them down. A crashed agent always leaves them")
	sec := addSecurityFlags(fs, false)
	sec.role = security.RoleAgent
	logf := addLogFlags(fs, "info")
	httpAddr := fs.String("http", "", "serve metrics and sandbox files on this address, e.g. 0.0.0.0:5052; the master's UI reads sandboxes through it (empty: no HTTP); HTTPS with the TLS flags")
	readers := fs.String("sandbox-readers", "master", "with the TLS flags, the principals (client certificates) that may read sandboxes over --http, comma-separated")
	addServerLimitFlags(fs, sec) // of its --http server
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *workDir == "" {
		return fmt.Errorf("--work-dir is required")
	}
	if err := checkFlags(fs,
		hostPorts("master"), etcdEndpoints("etcd"),
		oneOf("isolation", "cgroups", "process"), custom("cgroup-parent", checkCgroupParent),
		custom("hostname", checkAgentHostname),
		oneOf("recover", agent.RecoverReconnect, agent.RecoverCleanup),
		positive("executor-reregister-timeout"), positive("executor-recovery-timeout"),
		oneOf("task-users", agent.TaskUsersIsolated, agent.TaskUsersHost), custom("container-uid-range", checkUIDRange),
		positive("container-pids-max"), positive("container-disk-watch-interval"),
		byteSize("container-disk-default"), positiveByteSize("container-log-max-size"), atLeast("container-log-max-files", 1),
		positive("gc-delay"), custom("gc-disk-headroom", checkHeadroom), positive("disk-watch-interval"),
		optionalHostPort("http"), custom("sandbox-readers", checkNames),
	); err != nil {
		return err
	}
	if err := sec.check(fs); err != nil {
		return err
	}
	if *keepExecutors && *recoverMode == agent.RecoverCleanup {
		return fmt.Errorf("--keep-executors-on-exit with --recover=cleanup: the next run would kill what this one keeps")
	}
	// Parsed as the rules above checked them: these cannot fail.
	uids, _ := agent.ParseUIDRange(*uidRange)
	diskDef, _ := parseByteSize(*diskDefault)
	logSize, _ := parseByteSize(*logMaxSize)
	if *taskUsers == agent.TaskUsersIsolated && os.Geteuid() == 0 {
		if err := agent.CheckContainerUIDs(uids); err != nil {
			return flagError("container-uid-range", *uidRange, err)
		}
	}
	if diskDef == 0 {
		diskDef = -1 // agent.Config: negative means none
	}
	var res mezzo.Resources // empty: the agent detects the machine's
	if strings.TrimSpace(*resources) != "" {
		r, err := someResources("resources", *resources)
		if err != nil {
			return err
		}
		res = r
	}
	attrs, err := parseAttributes(*attributes)
	if err != nil {
		return err
	}
	log, err := logf.logger()
	if err != nil {
		return err
	}
	var lis net.Listener
	if *httpAddr != "" {
		// Listen first: the bound address goes to the master as an
		// attribute, for its sandbox proxy.
		if lis, err = net.Listen("tcp", *httpAddr); err != nil {
			return fmt.Errorf("--http: %w", err)
		}
		defer lis.Close()
		attrs = append(attrs, mezzo.Attribute{Name: master.AgentHTTPAttribute, Value: advertisedHTTP(lis.Addr(), *hostname)})
	}
	httpTLS, httpAuth, err := sec.agentHTTP(log)
	if err != nil {
		return err
	}
	if lis != nil {
		lis = security.LimitListener(lis, sec.maxConns)
		if httpTLS != nil {
			lis = tls.NewListener(lis, httpTLS)
		}
	}
	opts, err := sec.dialOptions(*masterAddr)
	if err != nil {
		return err
	}
	mc, err := api.DialMasters([]string{*masterAddr}, opts...)
	if err != nil {
		return err
	}
	defer mc.Close()
	if *etcd != "" {
		cli, err := clientv3.New(clientv3.Config{Endpoints: splitList(*etcd), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return fmt.Errorf("--etcd %s: %w", *etcd, err)
		}
		defer cli.Close()
		mc.Discover = func(ctx context.Context) (string, error) {
			addr, _, err := master.LeaderFromEtcd(ctx, cli, "")
			return addr, err
		}
	}
	a, err := agent.New(agent.Config{Master: *masterAddr, Hostname: *hostname, Resources: res, Attributes: attrs,
		WorkDir: *workDir, Isolation: *isolation, CgroupParent: *cgroupParent, Logger: log, MasterConn: mc,
		TaskUsers: *taskUsers, ContainerUIDs: uids,
		Recover: *recoverMode, ExecutorReregisterTimeout: *reregister, ExecutorRecoveryTimeout: *recoveryTimeout, DetachOnStop: *keepExecutors,
		HTTPAuth: httpAuth, SandboxReaders: splitList(*readers),
		ContainerPidsMax: *pidsMax, IgnoreDiskQuota: !*enforceDisk, ContainerDiskWatchInterval: *diskWatch, ContainerDiskDefault: diskDef,
		ContainerLogMaxSize: logSize, ContainerLogMaxFiles: *logMaxFiles,
		GCDelay: *gcDelay, GCDiskHeadroom: *gcHeadroom, DiskWatchInterval: *diskInterval})
	if err != nil {
		return err
	}
	if lis != nil {
		srv := a.HTTPServer(sec.handshake)
		go func() { _ = srv.Serve(lis) }()
		defer srv.Close()
		log.Info("http serving", "listen", lis.Addr().String())
	}
	return a.Run(ctx)
}

// checkCgroupParent refuses a --cgroup-parent that would not name one
// cgroup below the hierarchy's root: empty, absolute, or with . or ..
// components.
func checkCgroupParent(v any) error {
	p := v.(string)
	if p == "" {
		return errors.New("must name a cgroup")
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." || strings.ContainsAny(c, " \t\n") {
			return errors.New("want a relative cgroup path such as mezzo or mezzo/agent1, without empty, . or .. components or spaces")
		}
	}
	return nil
}

// checkUIDRange refuses a --container-uid-range that is not FIRST-LAST
// of uids containers may have (agent.ParseUIDRange); whether the
// machine's users leave it free is checked once the flags are.
func checkUIDRange(v any) error {
	_, err := agent.ParseUIDRange(v.(string))
	return err
}

// checkHeadroom refuses a --gc-disk-headroom that is not a fraction of
// the disk strictly between 0 and 1.
func checkHeadroom(v any) error {
	if h := v.(float64); !(h > 0 && h < 1) {
		return errors.New("want a fraction of the disk between 0 and 1, e.g. 0.1")
	}
	return nil
}

// checkAgentHostname refuses a --hostname the master would refuse in
// every registration (api.ValidateHostname); "" means the machine's.
func checkAgentHostname(v any) error { return api.ValidateHostname(v.(string)) }

// checkNames refuses a comma-separated list with nothing in it.
func checkNames(v any) error {
	if len(splitList(v.(string))) == 0 {
		return errors.New("want at least one name, comma-separated")
	}
	return nil
}

// parseAttributes reads "name:value;name:value".
func parseAttributes(text string) ([]mezzo.Attribute, error) {
	var out []mezzo.Attribute
	for i, entry := range strings.Split(text, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, value, ok := strings.Cut(entry, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--attributes %q: entry %d %q is not name:value", text, i+1, entry)
		}
		out = append(out, mezzo.Attribute{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	return out, nil
}

// advertisedHTTP is the address the master's sandbox proxy reaches the
// agent's HTTP server at: the bound address, except that a wildcard
// (0.0.0.0, ::) becomes the agent's host name, which the master can dial
// and which the agent's certificate names (`mezzo certs init` adds the
// machine's name).
func advertisedHTTP(addr net.Addr, hostname string) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return addr.String()
	}
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	if hostname == "" {
		return addr.String()
	}
	return net.JoinHostPort(hostname, strconv.Itoa(ta.Port))
}
