package master

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// The registry is the little the master keeps in etcd, under
// HAConfig.Prefix. Everything else (tasks, executors, resources in use,
// offers, filters) is soft state that a new leader rebuilds from agents'
// and schedulers' re-registrations, as in Mesos. What cannot be rebuilt:
//
//   - PREFIX/agents/ID (value: JSON agentRecord, the host name and the
//     SHA-256 of the agent's secret; a plain host name from earlier
//     versions is still read, as an agent with no secret bound): the
//     agents admitted. A new leader cannot know how many agents to wait
//     for before it allocates (allocating earlier would hand out resources
//     that running tasks use) unless it knows who was there; it waits for
//     HAConfig.RecoveryFraction of them. And it must know each agent's
//     secret to refuse another machine naming the agent's ID (agentid.go).
//     Written when an agent first registers or its secret is bound,
//     deleted when it is removed or does not come back within
//     HAConfig.RecoveryTimeout.
//   - PREFIX/frameworks/ID (value: JSON with the FrameworkInfo protobuf,
//     the principal, and whether it was rebuilt from an agent's report
//     and not subscribed since): the frameworks registered, with their failover
//     timeouts. A framework whose scheduler died with the old leader would
//     otherwise never be removed: nobody re-subscribes to tell the new
//     leader about it, so its tasks would run forever. The new leader
//     re-creates such frameworks disconnected at its election and removes
//     them when their failover timeout passes (tasks killed, resources
//     recovered). The principal keeps another principal from taking a
//     framework over after a failover. Deleted when the framework is
//     removed.
//   - PREFIX/lost/FRAMEWORK/TASK (value: JSON lostRecord): tasks the
//     master declared TASK_LOST on its own, without word from their
//     agent: the live tasks of an agent it removed, and tasks it answered
//     lost because it did not know them (reconciliation, kill). A later
//     word from the agent (it comes back, a launch from a leader that died
//     turns up) must not give the framework a second terminal state, and
//     only the master that said it knows it was said: a new leader
//     re-creates these as ended tasks, so such an agent is told to kill
//     the task and the framework hears TASK_LOST again instead. Deleted
//     with the framework, or by the leader that finds one older than
//     lostKept.
//   - PREFIX/drains/AGENT (value: JSON drainRecord): agents under
//     maintenance. An operator's drain is a decision no agent or framework
//     reports back: without it a new leader would offer a drained machine
//     again. Deleted on undrain.
//   - PREFIX/leader/…: the election itself (concurrency.Election keys,
//     value: JSON leaderValue), which clients read to find the leader.
//
// Writes are asynchronous (the loop never waits on etcd) and fenced: each
// is a transaction that applies only while the writer's election key still
// has the creation revision of its term, so a deposed leader cannot write.
type registry struct {
	cli       *clientv3.Client
	prefix    string
	leaderKey string
	epoch     int64
	log       *slog.Logger
	q         *outbox[regOp]
}

type regOp struct {
	key    string
	value  string // "" with del
	del    bool
	prefix bool // with del: every key under key
}

// lostKept is how long a declared loss is remembered across failovers: an
// agent away longer than this is assumed to have ended the task.
const lostKept = 24 * time.Hour

type lostRecord struct {
	Task   mezzo.TaskID  `json:"task"`
	Agent  mezzo.AgentID `json:"agent,omitempty"`
	Reason mezzo.Reason  `json:"reason,omitempty"`
	At     time.Time     `json:"at"`
}

// agentRecord is the value of PREFIX/agents/ID.
type agentRecord struct {
	Hostname string `json:"hostname,omitempty"`
	// SecretSHA256 is the hex SHA-256 of the agent's secret.
	SecretSHA256 string `json:"secret_sha256,omitempty"`
}

// parseAgentRecord reads an agent's record, also in the old form (the
// plain host name, which never starts with "{"). It returns the secret's
// digest, if one is bound.
func parseAgentRecord(v []byte) (digest [sha256.Size]byte, ok bool, err error) {
	if !strings.HasPrefix(string(v), "{") {
		return digest, false, nil
	}
	var rec agentRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return digest, false, err
	}
	if rec.SecretSHA256 == "" {
		return digest, false, nil
	}
	b, err := hex.DecodeString(rec.SecretSHA256)
	if err != nil || len(b) != sha256.Size {
		return digest, false, fmt.Errorf("secret_sha256 %q is not a hex SHA-256", api.Clip(rec.SecretSHA256))
	}
	copy(digest[:], b)
	return digest, true, nil
}

type frameworkRecord struct {
	Info      []byte `json:"info"` // api.FrameworkInfo, protobuf
	Principal string `json:"principal,omitempty"`
	// Reported says the framework was rebuilt from an agent's report and
	// its scheduler has not subscribed it since: it does not count towards
	// the principal's cap (placeholder).
	Reported bool `json:"reported,omitempty"`
}

func agentKey(prefix string, id mezzo.AgentID) string { return prefix + "/agents/" + string(id) }
func frameworkKey(prefix string, id mezzo.FrameworkID) string {
	return prefix + "/frameworks/" + string(id)
}

// putAgent, delAgent, putFramework and delFramework queue fenced writes;
// they never block. A nil registry (no etcd) ignores them.
func (r *registry) putAgent(id mezzo.AgentID, hostname, secretSHA256 string) {
	if r != nil {
		v, _ := json.Marshal(agentRecord{Hostname: hostname, SecretSHA256: secretSHA256})
		r.q.push(regOp{key: agentKey(r.prefix, id), value: string(v)})
	}
}

func (r *registry) delAgent(id mezzo.AgentID) {
	if r != nil {
		r.q.push(regOp{key: agentKey(r.prefix, id), del: true})
	}
}

func (r *registry) putFramework(info mezzo.FrameworkInfo, principal string, reported bool) {
	if r == nil {
		return
	}
	b, err := proto.Marshal(api.FrameworkToProto(info))
	if err != nil {
		r.log.Error("registry: encoding framework", "framework", info.ID, "err", err)
		return
	}
	v, _ := json.Marshal(frameworkRecord{Info: b, Principal: principal, Reported: reported})
	r.q.push(regOp{key: frameworkKey(r.prefix, info.ID), value: string(v)})
}

func (r *registry) delFramework(id mezzo.FrameworkID) {
	if r != nil {
		r.q.push(regOp{key: frameworkKey(r.prefix, id), del: true})
		r.q.push(regOp{key: lostPrefix(r.prefix, id), del: true, prefix: true})
	}
}

func lostPrefix(prefix string, fw mezzo.FrameworkID) string {
	return prefix + "/lost/" + url.PathEscape(string(fw)) + "/"
}

type drainRecord struct {
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline,omitzero"`
}

func drainKey(prefix string, id mezzo.AgentID) string {
	return prefix + "/drains/" + url.PathEscape(string(id))
}

// putDrain and delDrain record an agent's maintenance and its end.
func (r *registry) putDrain(id mezzo.AgentID, d drainRecord) {
	if r != nil {
		v, _ := json.Marshal(d)
		r.q.push(regOp{key: drainKey(r.prefix, id), value: string(v)})
	}
}

func (r *registry) delDrain(id mezzo.AgentID) {
	if r != nil {
		r.q.push(regOp{key: drainKey(r.prefix, id), del: true})
	}
}

// putLost records a task the master declared lost on its own.
func (r *registry) putLost(fw mezzo.FrameworkID, l lostRecord) {
	if r == nil {
		return
	}
	v, _ := json.Marshal(l)
	r.q.push(regOp{key: lostPrefix(r.prefix, fw) + url.PathEscape(string(l.Task)), value: string(v)})
}

// delLost forgets one.
func (r *registry) delLost(fw mezzo.FrameworkID, task mezzo.TaskID) {
	if r != nil {
		r.q.push(regOp{key: lostPrefix(r.prefix, fw) + url.PathEscape(string(task)), del: true})
	}
}

func (r *registry) close() {
	if r != nil {
		r.q.close(nil)
	}
}

// txnOps bounds the operations of one transaction (etcd's default
// --max-txn-ops is 128).
const txnOps = 128

// run writes queued operations until the queue closes or a write is
// fenced off. It returns when the term is over.
func (r *registry) run(ctx context.Context) {
	for {
		batch, ok := r.q.next(ctx)
		if !ok {
			return
		}
		// A key may appear once per transaction: keep each key's last op.
		last := map[string]int{}
		for i, op := range batch {
			last[op.key] = i
		}
		var ops []clientv3.Op
		flush := func() bool {
			if len(ops) == 0 {
				return true
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := r.cli.Txn(cctx).
				If(clientv3.Compare(clientv3.CreateRevision(r.leaderKey), "=", r.epoch)).
				Then(ops...).Commit()
			cancel()
			ops = ops[:0]
			switch {
			case err != nil:
				r.log.Error("registry: write failed", "err", err)
				return ctx.Err() == nil
			case !resp.Succeeded:
				r.log.Warn("registry: write fenced off; this master no longer leads", "epoch", r.epoch)
				return false
			}
			return true
		}
		for i, op := range batch {
			if last[op.key] != i {
				continue
			}
			switch {
			case op.del && op.prefix:
				// etcd refuses a transaction whose range delete overlaps
				// a put: this one goes alone.
				if !flush() {
					return
				}
				ops = append(ops, clientv3.OpDelete(op.key, clientv3.WithPrefix()))
				if !flush() {
					return
				}
				continue
			case op.del:
				ops = append(ops, clientv3.OpDelete(op.key))
			default:
				ops = append(ops, clientv3.OpPut(op.key, op.value))
			}
			if len(ops) == txnOps && !flush() {
				return
			}
		}
		if !flush() {
			return
		}
	}
}

// registryState is what a new leader reads at the start of its term.
type registryState struct {
	agents     []mezzo.AgentID
	agentKeys  map[mezzo.AgentID][sha256.Size]byte // secrets' digests of those that have one
	frameworks []recoveredFramework
	lost       map[mezzo.FrameworkID][]lostRecord // oldest first
	drains     map[mezzo.AgentID]drainRecord
}

type recoveredFramework struct {
	info      mezzo.FrameworkInfo
	principal string
	reported  bool
}

func loadRegistry(ctx context.Context, cli *clientv3.Client, prefix string) (registryState, error) {
	var st registryState
	resp, err := cli.Get(ctx, prefix+"/agents/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return st, fmt.Errorf("registry: reading agents: %w", err)
	}
	st.agentKeys = map[mezzo.AgentID][sha256.Size]byte{}
	for _, kv := range resp.Kvs {
		id := mezzo.AgentID(strings.TrimPrefix(string(kv.Key), prefix+"/agents/"))
		st.agents = append(st.agents, id)
		d, ok, err := parseAgentRecord(kv.Value)
		if err != nil {
			return st, fmt.Errorf("registry: %s: not an agent record: %w", kv.Key, err)
		}
		if ok {
			st.agentKeys[id] = d
		}
	}
	resp, err = cli.Get(ctx, prefix+"/frameworks/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return st, fmt.Errorf("registry: reading frameworks: %w", err)
	}
	for _, kv := range resp.Kvs {
		var rec frameworkRecord
		var p api.FrameworkInfo
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return st, fmt.Errorf("registry: %s: %w", kv.Key, err)
		}
		if err := proto.Unmarshal(rec.Info, &p); err != nil {
			return st, fmt.Errorf("registry: %s: framework info: %w", kv.Key, err)
		}
		info, err := api.FrameworkFromProto(&p)
		if err != nil {
			return st, fmt.Errorf("registry: %s: %w", kv.Key, err)
		}
		st.frameworks = append(st.frameworks, recoveredFramework{info: info, principal: rec.Principal, reported: rec.Reported})
	}
	resp, err = cli.Get(ctx, prefix+"/lost/", clientv3.WithPrefix())
	if err != nil {
		return st, fmt.Errorf("registry: reading lost tasks: %w", err)
	}
	st.lost = map[mezzo.FrameworkID][]lostRecord{}
	for _, kv := range resp.Kvs {
		var l lostRecord
		fw, _, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), prefix+"/lost/"), "/")
		if err := json.Unmarshal(kv.Value, &l); err != nil || !ok {
			return st, fmt.Errorf("registry: %s: not a lost task record: %v", kv.Key, err)
		}
		id, err := url.PathUnescape(fw)
		if err != nil {
			return st, fmt.Errorf("registry: %s: %w", kv.Key, err)
		}
		st.lost[mezzo.FrameworkID(id)] = append(st.lost[mezzo.FrameworkID(id)], l)
	}
	for _, ls := range st.lost {
		sort.Slice(ls, func(i, j int) bool { return ls[i].At.Before(ls[j].At) })
	}
	resp, err = cli.Get(ctx, prefix+"/drains/", clientv3.WithPrefix())
	if err != nil {
		return st, fmt.Errorf("registry: reading drains: %w", err)
	}
	st.drains = map[mezzo.AgentID]drainRecord{}
	for _, kv := range resp.Kvs {
		var d drainRecord
		id, err := url.PathUnescape(strings.TrimPrefix(string(kv.Key), prefix+"/drains/"))
		if err == nil {
			err = json.Unmarshal(kv.Value, &d)
		}
		if err != nil {
			return st, fmt.Errorf("registry: %s: not a drain record: %v", kv.Key, err)
		}
		st.drains[mezzo.AgentID(id)] = d
	}
	return st, nil
}
