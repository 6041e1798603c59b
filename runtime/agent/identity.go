package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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

// epochFile holds the newest master epoch the agent has registered with:
// a restarted agent refuses commands of an older (deposed) master.
const epochFile = "master-epoch"

// loadEpoch reads the epoch a previous run saved (0 with none).
func loadEpoch(workDir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(workDir, epochFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", epochFile, err)
	}
	return n, nil
}

// saveEpoch writes the epoch, whole or not at all: a file cut short by a
// full disk would fence off nothing.
func saveEpoch(workDir string, epoch int64) error {
	return writeFileAtomic(filepath.Join(workDir, epochFile), []byte(strconv.FormatInt(epoch, 10)+"\n"))
}
