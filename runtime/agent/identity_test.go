package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
)

// errorLog is a slog handler that keeps the messages of ERROR records.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }

func (l *errorLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// The secret the master issues once, refused by a full disk, is kept in
// memory and written once space comes back (the failure logged once, not
// at every retry), and so is the master's epoch; the next run presents
// the secret and is taken back. On a full disk the epoch's file is not
// left empty either.
func TestIdentityRefusedByAFullDiskIsSavedLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "work")
	mountTmpfs(t, dir, 64<<10)
	if err := os.Mkdir(filepath.Join(dir, "status"), 0o700); err != nil {
		t.Fatal(err)
	}
	free := fill(t, dir)
	m := startFakeMaster(t, true)
	m.epoch = 3
	errs := &errorLog{}
	cfg := Config{WorkDir: dir, Emulated: true, StatusRetry: 20 * time.Millisecond, StatusRetryMax: 50 * time.Millisecond, Logger: slog.New(errs)}
	_, stop := startAgent(t, m, cfg)
	<-m.subscribes
	waitFor(t, func() bool { return len(errs.all()) > 0 })
	time.Sleep(300 * time.Millisecond) // retries fail meanwhile, silently
	// One error for each of the two files (the epoch, the identity), each
	// saying what a restart would cost.
	if got := errs.all(); len(got) != 2 || !strings.Contains(strings.Join(got, "\n"), "deposed master") ||
		!strings.Contains(strings.Join(got, "\n"), "master refuses it") {
		t.Errorf("while the disk is full the agent logged %q; want one error for each file, saying what a restart would cost", got)
	}
	if b, err := os.ReadFile(filepath.Join(dir, agentSecretFile)); err == nil {
		t.Fatalf("the secret file holds %q on a full disk", b)
	}

	free()
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, agentSecretFile))
		return strings.TrimSpace(string(b)) == "secret-1"
	})
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, agentIDFile))
		e, _ := os.ReadFile(filepath.Join(dir, epochFile))
		return strings.TrimSpace(string(b)) == "agent-1" && strings.TrimSpace(string(e)) == "3"
	})
	stop()

	cfg.Logger = nil
	_, _ = startAgent(t, m, cfg)
	select {
	case req := <-m.subscribes:
		if req.AgentSecret != "secret-1" || req.GetAgent().GetAgentId() != "agent-1" {
			t.Fatalf("the next run presents %q as %q, want secret-1 as agent-1", req.AgentSecret, req.GetAgent().GetAgentId())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next run did not register")
	}
}

// A run that ends with its secret still refused says the secret is lost.
func TestIdentityNeverSavedIsSaidSo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "work")
	mountTmpfs(t, dir, 64<<10)
	if err := os.Mkdir(filepath.Join(dir, "status"), 0o700); err != nil {
		t.Fatal(err)
	}
	fill(t, dir)
	m := startFakeMaster(t, true)
	errs := &errorLog{}
	_, stop := startAgent(t, m, Config{WorkDir: dir, Emulated: true, Logger: slog.New(errs)})
	<-m.subscribes
	waitFor(t, func() bool { return len(errs.all()) > 0 })
	stop()
	got := errs.all()
	if len(got) != 2 || !strings.Contains(got[1], "never stored") || !strings.Contains(got[1], "master refuses it") {
		t.Errorf("a run ending with its identity unsaved logged %q; want the failure, then that it was never stored and what that costs", got)
	}
}

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
