package api

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestValidateAgentID(t *testing.T) {
	for _, ok := range []string{"", "m1-A0001", "m18f3a2b9c1-A12345", "my.master_1-x-A7"} {
		if err := ValidateAgentID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for id, want := range map[string]string{
		"garbage-id/../x":               "not of the master's format",
		strings.Repeat("a", 4000):       "agent ID is 4000 bytes; the limit is 64",
		"m1-A":                          "not of the master's format",
		"-A1":                           "not of the master's format",
		"m1-A1\n":                       "not of the master's format",
		"m1-B0001":                      "not of the master's format",
		strings.Repeat("é", 10) + "-A1": "not of the master's format",
	} {
		if err := ValidateAgentID(id); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.30q: %v, want %q", id, err, want)
		}
	}
}

func TestValidateID(t *testing.T) {
	for _, ok := range []string{"", "task-1", "a b:c@d", strings.Repeat("x", MaxIDBytes), strings.Repeat("%", 300), "日本"} {
		if err := ValidateID("task ID", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for id, want := range map[string]string{
		".":                               "path component",
		"..":                              "path component",
		"a/b":                             "path separator",
		`a\b`:                             "path separator",
		"a\x00b":                          "control character",
		"\xff":                            "not valid UTF-8",
		strings.Repeat("x", MaxIDBytes+1): "1025 bytes; the limit is 1024",
	} {
		if err := ValidateID("task ID", id); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.30q: %v, want %q", id, err, want)
		}
	}
}

func TestValidateFrameworkInfo(t *testing.T) {
	if err := ValidateFrameworkInfo(&FrameworkInfo{Name: "n", Role: "a/b", User: "nobody"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    *FrameworkInfo
		want string
	}{
		{&FrameworkInfo{Name: strings.Repeat("n", 4<<20)}, "framework name is 4194304 bytes; the limit is 1024"},
		{&FrameworkInfo{Role: strings.Repeat("r", 300)}, "framework role is 300 bytes; the limit is 256"},
		{&FrameworkInfo{User: strings.Repeat("u", 300)}, "framework user is 300 bytes; the limit is 256"},
		{&FrameworkInfo{FrameworkId: "../x"}, "framework ID"},
		{&FrameworkInfo{Constraints: &OfferConstraints{Agents: make([]string, 2000)}}, "2000 agents; the limit is 1024"},
	} {
		if err := ValidateFrameworkInfo(c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}

func TestValidateTaskInfo(t *testing.T) {
	ok := &TaskInfo{TaskId: "t", Data: make([]byte, MaxTaskDataBytes)}
	if n, err := ValidateTaskInfo(ok); err != nil || n != proto.Size(ok) {
		t.Fatalf("a valid task: size %d, %v; want its encoded size %d", n, err, proto.Size(ok))
	}
	big := strings.Repeat("x", 300<<10)
	for _, c := range []struct {
		p    *TaskInfo
		want string
	}{
		{&TaskInfo{TaskId: "t", Data: make([]byte, MaxTaskDataBytes+1)}, `task "t": data is 1048577 bytes; the limit is 1048576`},
		{&TaskInfo{TaskId: "t", Name: strings.Repeat("n", 2000)}, "name is 2000 bytes; the limit is 1024"},
		{&TaskInfo{TaskId: "t", Labels: map[string]string{"k": big}}, "labels are 307201 bytes; the limit is 65536"},
		{&TaskInfo{TaskId: "t", Command: &CommandInfo{Value: big}}, "command (value and arguments) is 307200 bytes"},
		{&TaskInfo{TaskId: "t", Command: &CommandInfo{Value: "x", Env: []string{big}}}, "command environment is 307200 bytes"},
		{&TaskInfo{TaskId: "t", Executor: &ExecutorInfo{ExecutorId: "a/b"}}, "executor ID"},
		{&TaskInfo{TaskId: "t", Executor: &ExecutorInfo{ExecutorId: "e", Command: &CommandInfo{Args: []string{big}}}}, "executor command"},
		{&TaskInfo{TaskId: "t", Data: make([]byte, MaxTaskDataBytes), Command: &CommandInfo{Value: big[:250<<10], Env: []string{big[:250<<10]}},
			Executor: nil, Input: []string{big[:60<<10]}}, "task info is"},
		{&TaskInfo{TaskId: strings.Repeat("é", 600)}, "task ID is 1200 bytes; the limit is 1024"},
	} {
		if _, err := ValidateTaskInfo(c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.200v, want %q", err, c.want)
		}
	}
}

func TestValidateAgentInfo(t *testing.T) {
	if err := ValidateAgentInfo(&AgentInfo{AgentId: "m1-A1", Hostname: "h.example.com", Attributes: []*Attribute{{Name: "rack", Value: "r1"}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    *AgentInfo
		want string
	}{
		{&AgentInfo{Hostname: strings.Repeat("h", 256)}, "agent hostname is 256 bytes; the limit is 255"},
		{&AgentInfo{Hostname: "h\n"}, "control character"},
		{&AgentInfo{Attributes: make([]*Attribute, 200)}, "200 attributes; the limit is 128"},
		{&AgentInfo{Attributes: []*Attribute{{Name: strings.Repeat("n", 200)}}}, "agent attribute name is 200 bytes"},
	} {
		if err := ValidateAgentInfo(c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := Clip("short"); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	got := Clip(strings.Repeat("n", 4_000_000))
	if len(got) > ClipBytes+40 || !strings.HasSuffix(got, "…(4000000 bytes)") {
		t.Errorf("Clip of 4 MB: %d bytes, %q…", len(got), got[len(got)-30:])
	}
	// Cut on a rune boundary.
	got = Clip(strings.Repeat("é", 200))
	if !strings.HasPrefix(got, strings.Repeat("é", ClipBytes/2)+"…") {
		t.Errorf("Clip cut a rune: %q", got)
	}
}
