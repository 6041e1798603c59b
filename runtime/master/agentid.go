package master

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// Agent identity. An agent ID is no secret (it is in every offer, the
// state views and the UI), and every agent may hold the same certificate,
// so neither says which machine is speaking. The master therefore hands
// each new agent ID a secret (256 random bits) in the Registered event;
// the agent keeps it in its work dir and presents it at every
// re-registration. The master keeps only the secret's SHA-256: in memory
// (also after the agent is removed, for agentKeyKept, so a removed
// agent's ID cannot be taken over while it is away) and, with etcd, in the
// agent's registry record, so the next leader checks returning agents
// too. A registration that names a bound ID with no or another secret is
// refused and changes nothing: the agent that holds the ID keeps it.
//
// A master that does not know an ID (it restarted without etcd, or the
// agent was removed longer ago than agentKeyKept, or its registry record
// was deleted) binds the secret the agent presents, or issues one to an
// agent that has none (one of an earlier version): trust on first use.

// agentKeyKept is how long the secret of a removed agent is remembered.
const agentKeyKept = 24 * time.Hour

// secretBytes is the size of an agent secret (hex on the wire).
const secretBytes = 32

type agentSecret struct {
	digest    [sha256.Size]byte
	removedAt time.Time // zero while the agent is registered
}

type removedKey struct {
	id mezzo.AgentID
	at time.Time
}

// agentKeys is the loop's table of agent secrets.
type agentKeys struct {
	byID    map[mezzo.AgentID]*agentSecret
	removed []removedKey // in order of removal, for expiry
}

func newSecret() string {
	var b [secretBytes]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func secretDigest(secret string) [sha256.Size]byte { return sha256.Sum256([]byte(secret)) }

// validSecret says whether s has the form of a secret a master issues.
func validSecret(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == secretBytes
}

// agentCredential checks a registration's secret against the agent ID it
// names. It returns the digest to bind to the agent and, when the master
// makes a new secret, the secret to hand the agent (the ID is new, or
// unknown here and the agent brought none). Called on the loop before
// anything of the registration is applied.
func (m *Master) agentCredential(ctx context.Context, req *api.AgentSubscribeRequest) (digest [sha256.Size]byte, issue string, err error) {
	id := mezzo.AgentID(req.GetAgent().GetAgentId())
	presented := req.GetAgentSecret()
	if presented != "" && !validSecret(presented) {
		return digest, "", status.Errorf(codes.InvalidArgument, "agent %s: agent_secret is not %d hex-encoded bytes", id, secretBytes)
	}
	if id == "" {
		issue = newSecret()
		return secretDigest(issue), issue, nil
	}
	k := m.keys.byID[id]
	if k == nil {
		if presented == "" {
			issue = newSecret()
			m.log.Info("agent ID unknown here and no secret presented; issuing one", "agent", id)
			return secretDigest(issue), issue, nil
		}
		m.log.Info("agent ID unknown here; binding the secret it presents (first use)", "agent", id)
		return secretDigest(presented), "", nil
	}
	got := secretDigest(presented)
	if presented == "" || subtle.ConstantTimeCompare(got[:], k.digest[:]) != 1 {
		why := "a wrong agent secret"
		if presented == "" {
			why = "no agent secret"
		}
		m.log.Warn("not authorized", "principal", security.PrincipalFrom(ctx), "action", "register agent", "object", string(id),
			"why", why)
		return digest, "", status.Errorf(codes.PermissionDenied,
			"not authorized: agent %s is registered to another machine (%s presented); an agent keeps its secret in its work dir beside agent-id", id, why)
	}
	return k.digest, "", nil
}

// bindAgentKey records the secret of an admitted agent and says whether
// it is new or changed: the registry's record of the agent must then be
// written (agentAdmitted).
func (m *Master) bindAgentKey(id mezzo.AgentID, digest [sha256.Size]byte) (changed bool) {
	k := m.keys.byID[id]
	changed = k == nil || k.digest != digest
	if k == nil {
		k = &agentSecret{}
		m.keys.byID[id] = k
	}
	k.digest, k.removedAt = digest, time.Time{}
	return changed
}

// agentDigest is the hex SHA-256 of the agent's secret, "" if none is
// bound.
func (m *Master) agentDigest(id mezzo.AgentID) string {
	if k := m.keys.byID[id]; k != nil {
		return hex.EncodeToString(k.digest[:])
	}
	return ""
}

// agentKeyRemoved starts the expiry of a removed agent's secret, and
// drops those of agents removed longer than agentKeyKept ago (and not
// back since).
func (m *Master) agentKeyRemoved(id mezzo.AgentID, now time.Time) {
	if k := m.keys.byID[id]; k != nil {
		k.removedAt = now
		m.keys.removed = append(m.keys.removed, removedKey{id: id, at: now})
	}
	n := 0
	for _, r := range m.keys.removed {
		if now.Sub(r.at) < agentKeyKept {
			break
		}
		if k := m.keys.byID[r.id]; k != nil && k.removedAt.Equal(r.at) {
			delete(m.keys.byID, r.id)
		}
		n++
	}
	m.keys.removed = m.keys.removed[n:]
}

// restoreAgentKeys takes a new term's agent secrets from the registry.
// Secrets this master remembers of agents the registry no longer lists
// (removed ones) stay.
func (m *Master) restoreAgentKeys(digests map[mezzo.AgentID][sha256.Size]byte) {
	for id, d := range digests {
		m.keys.byID[id] = &agentSecret{digest: d}
	}
}

// newSessionID names an agent's registration. Its calls carry it with the
// agent ID, and both are all a call shows (every agent may share one
// certificate): it must not be guessable, or a holder of the certificate
// could speak for a registered agent without its secret.
func (m *Master) newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return m.nextID("s") + "-" + hex.EncodeToString(b[:])
}
