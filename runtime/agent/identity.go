package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mezzo-cluster/mezzo"
)

// The agent's identity in its work dir: agent-id (the ID the master gave,
// no secret: it is in every offer) and agent-secret (the secret the master
// bound to that ID, 0600: whoever holds it can register as this agent).
// The master refuses a registration naming the ID without the secret, so
// a machine that copies or guesses the ID cannot take the agent's place.
const (
	agentIDFile     = "agent-id"
	agentSecretFile = "agent-secret"
)

// loadIdentity reads the agent ID and secret a previous run saved ("" for
// what is missing).
func loadIdentity(workDir string) (mezzo.AgentID, string, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(workDir, name))
		if os.IsNotExist(err) {
			return "", nil
		}
		return strings.TrimSpace(string(b)), err
	}
	id, err := read(agentIDFile)
	if err != nil {
		return "", "", fmt.Errorf("agent: %w", err)
	}
	secret, err := read(agentSecretFile)
	if err != nil {
		return "", "", fmt.Errorf("agent: %w", err)
	}
	return mezzo.AgentID(id), secret, nil
}

// saveIdentity writes the ID and, when the master issued one, the secret.
// The secret goes first: an ID on disk without its secret is an agent
// the master refuses, an orphan secret is harmless.
func saveIdentity(workDir string, id mezzo.AgentID, secret string) error {
	if secret != "" {
		if err := writeFileAtomic(filepath.Join(workDir, agentSecretFile), []byte(secret+"\n")); err != nil {
			return err
		}
	}
	return writeFileAtomic(filepath.Join(workDir, agentIDFile), []byte(string(id)+"\n"))
}
