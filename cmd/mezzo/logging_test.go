package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/master/mastertest"
)

// syncBuffer is a bytes.Buffer safe for the master's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestBuildLoggerRejectsBadFlags(t *testing.T) {
	if _, err := buildLogger(&bytes.Buffer{}, "xml", "info"); err == nil || !strings.Contains(err.Error(), `--log-format "xml"`) {
		t.Errorf("format xml: %v, want an error naming --log-format", err)
	}
	if _, err := buildLogger(&bytes.Buffer{}, "json", "loud"); err == nil || !strings.Contains(err.Error(), `--log-level "loud"`) {
		t.Errorf("level loud: %v, want an error naming --log-level", err)
	}
}

// TestJSONLogsCarryIDs runs a master logging JSON and checks every line
// parses, and the agent, framework and task IDs are fields of their own.
func TestJSONLogsCarryIDs(t *testing.T) {
	var out syncBuffer
	log, err := buildLogger(&out, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", AllocationInterval: 50 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	agent := mastertest.StartAgent(t, addr, mastertest.AgentOptions{Hostname: "h", Resources: "cpus:1;mem:64"})
	s := mastertest.Subscribe(t, addr, mezzo.FrameworkInfo{Name: "logs"})
	if err := s.Accept([]mezzo.OfferID{"no-such-offer"}, []mezzo.TaskInfo{{ID: "t-log", Resources: mezzo.Cpus(1)}}, mezzo.Filters{}); err != nil {
		t.Fatal(err)
	}
	s.NextUpdate("t-log", 5*time.Second)
	m.Stop()

	want := map[string]string{"agent": string(agent.ID()), "framework": string(s.ID), "task": "t-log"}
	found := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	lines := 0
	for sc.Scan() {
		lines++
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %d is not JSON: %v: %s", lines, err, sc.Text())
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("log line %d has no %q: %s", lines, k, sc.Text())
			}
		}
		for k, v := range want {
			if rec[k] == v {
				found[k] = true
			}
		}
	}
	for k, v := range want {
		if !found[k] {
			t.Errorf("no log line has %s=%q as a field; logs:\n%s", k, v, out.String())
		}
	}
}
