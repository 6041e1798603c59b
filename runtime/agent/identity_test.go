package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// TestSecretKeptAndPresented: the secret the master issues is saved in the
// work dir (0600, beside agent-id) and presented, with the ID, by the next
// run.
func TestSecretKeptAndPresented(t *testing.T) {
	m := startFakeMaster(t, true)
	dir := t.TempDir()
	_, stop := startAgent(t, m, Config{WorkDir: dir, Emulated: true})
	if req := <-m.subscribes; req.AgentSecret != "" || req.GetAgent().GetAgentId() != "" {
		t.Fatalf("first registration presents %q as %q", req.AgentSecret, req.GetAgent().GetAgentId())
	}
	file := filepath.Join(dir, agentSecretFile)
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, agentIDFile)); return err == nil })
	stop()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", file, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	if strings.TrimSpace(string(b)) != "secret-1" {
		t.Errorf("%s holds %q, want the issued secret-1", file, b)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".agent-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	_, _ = startAgent(t, m, Config{WorkDir: dir, Emulated: true})
	select {
	case req := <-m.subscribes:
		if req.AgentSecret != "secret-1" || req.GetAgent().GetAgentId() != "agent-1" {
			t.Fatalf("next run presents %q as %q, want secret-1 as agent-1", req.AgentSecret, req.GetAgent().GetAgentId())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next run did not register")
	}
}

// TestIdentityFilesRoundTrip: saveIdentity then loadIdentity; no secret
// file is written when the master issued none.
func TestIdentityFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if err := saveIdentity(dir, "m1-A0001", "abc"); err != nil {
		t.Fatal(err)
	}
	if err := saveIdentity(dir, mezzo.AgentID("m1-A0001"), ""); err != nil {
		t.Fatal(err)
	}
	id, secret, err := loadIdentity(dir)
	if err != nil || id != "m1-A0001" || secret != "abc" {
		t.Fatalf("loaded %q %q %v", id, secret, err)
	}
}
