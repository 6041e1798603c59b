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

// TestConfigRefusesWhatTheMasterWould: a host name or attribute over the
// master's bounds fails New, with the bound.
func TestConfigRefusesWhatTheMasterWould(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Hostname: strings.Repeat("h", 300)}, "agent hostname is 300 bytes; the limit is 255"},
		{Config{Hostname: "h", Attributes: []mezzo.Attribute{{Name: "rack", Value: strings.Repeat("v", 2000)}}}, "the limit is 1024"},
	} {
		c.cfg.Master, c.cfg.Emulated = "127.0.0.1:1", true
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v, want %q", err, c.want)
		}
	}
}
