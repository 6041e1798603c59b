package api

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
)

// Bounds on what peers put in messages. The master checks what frameworks
// and agents send against them, so that nothing it accepts makes a message
// it must send later (a launch to an agent, a re-registration an agent
// sends back) too large for its receiver, and so that names end up in
// logs, file names and the UI at a sane size. Each refusal names the field
// and the bound.
const (
	// MaxIDBytes bounds a framework, task or executor ID. Agents never
	// name a file with an ID as it is (a status file is named by a digest
	// of the IDs, a sandbox by executor.IDName, which bounds a long ID), so
	// this is a bound on what the master keeps, logs and sends, not a file
	// name's.
	MaxIDBytes = 1024
	// MaxAgentIDBytes bounds an agent ID (the master's own format).
	MaxAgentIDBytes = 64
	// MaxNameBytes bounds a framework's, task's or executor's name.
	MaxNameBytes = 1024
	// MaxRoleBytes, MaxUserBytes and MaxKindBytes bound a framework's
	// role, an OS user name and an executor's kind.
	MaxRoleBytes = 256
	MaxUserBytes = 256
	MaxKindBytes = 256
	// MaxConstraintAgents bounds FrameworkInfo.constraints.agents.
	MaxConstraintAgents = 1024
	// MaxFrameworkInfoBytes bounds a FrameworkInfo as encoded: the master
	// sends it with every launch and an agent with every re-registration.
	MaxFrameworkInfoBytes = 64 << 10
	// MaxTaskDataBytes bounds TaskInfo.data.
	MaxTaskDataBytes = 1 << 20
	// MaxLabelsBytes bounds a task's labels (every key and value).
	MaxLabelsBytes = 64 << 10
	// MaxCommandBytes bounds a command's value and arguments together;
	// MaxEnvBytes its environment. Linux refuses one argument or
	// variable over 128 KiB and all of them over about 2 MiB anyway.
	MaxCommandBytes = 256 << 10
	MaxEnvBytes     = 256 << 10
	// MaxInputBytes bounds a task's input block names.
	MaxInputBytes = 64 << 10
	// MaxTaskInfoBytes bounds a TaskInfo as encoded, everything together.
	MaxTaskInfoBytes = MaxTaskDataBytes + 512<<10
	// MaxLaunchBytes bounds the tasks of one LaunchTasks event (one
	// accept): with the FrameworkInfo it stays under 4 MiB + 64 KiB, far
	// under AgentRecvLimit.
	MaxLaunchBytes = 4 << 20
	// MaxHostnameBytes bounds an agent's host name (DNS allows 253).
	MaxHostnameBytes = 255
	// MaxAttributes, MaxAttributeNameBytes and MaxAttributeValueBytes
	// bound an agent's attributes.
	MaxAttributes          = 128
	MaxAttributeNameBytes  = 128
	MaxAttributeValueBytes = 1024
	// AgentRecvLimit is the receive limit of agents (master events) and
	// executors (agent events), well above anything a master that keeps
	// the bounds above sends: a launch is at most MaxLaunchBytes plus a
	// FrameworkInfo, a message at most the master's 4 MiB request limit.
	AgentRecvLimit = 64 << 20
	// RegisterPartBytes is the size an agent keeps each part of a
	// registration under, and the size above which it registers in parts
	// (AgentAPI.Register) instead of one Subscribe message.
	RegisterPartBytes = 1 << 20
)

// agentIDRE is the format of the agent IDs masters hand out (nextID):
// the master's ID, "-A", a sequence number.
var agentIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*-A[0-9]{1,19}$`)

// masterIDRE is what a master's ID may be, so that the IDs it hands out
// match agentIDRE.
var masterIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// MaxMasterIDBytes bounds a master's ID (it prefixes every ID it makes).
const MaxMasterIDBytes = 40

// ValidateMasterID says why id cannot name a master, or nil.
func ValidateMasterID(id string) error {
	if len(id) > MaxMasterIDBytes || !masterIDRE.MatchString(id) {
		return fmt.Errorf("master ID %q: want 1 to %d of [A-Za-z0-9._-], starting with a letter or digit", Clip(id), MaxMasterIDBytes)
	}
	return nil
}

// ValidateAgentID says why id is not an agent ID a master could have
// handed out, or nil. Empty (a first registration) is valid.
func ValidateAgentID(id string) error {
	if id == "" {
		return nil
	}
	if len(id) > MaxAgentIDBytes {
		return fmt.Errorf("agent ID is %d bytes; the limit is %d", len(id), MaxAgentIDBytes)
	}
	if !agentIDRE.MatchString(id) {
		return fmt.Errorf("agent ID %q is not of the master's format MASTER-A<digits> (MASTER of [A-Za-z0-9._-])", Clip(id))
	}
	return nil
}

// ValidateID checks a framework, task or executor ID as Mesos does
// (common/validation: no control characters, no path separators, not "."
// or ".."), plus valid UTF-8 and at most MaxIDBytes. what names
// the field ("task ID"). Empty is left to the caller.
func ValidateID(what, id string) error {
	switch {
	case id == "":
		return nil
	case id == "." || id == "..":
		return fmt.Errorf("%s %q is not allowed (a path component)", what, id)
	case !utf8.ValidString(id):
		return fmt.Errorf("%s %q is not valid UTF-8", what, Clip(id))
	case strings.ContainsAny(id, `/\`):
		return fmt.Errorf("%s %q contains a path separator (/ or \\)", what, Clip(id))
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return fmt.Errorf("%s %q contains a control character", what, Clip(id))
	}
	if len(id) > MaxIDBytes {
		return fmt.Errorf("%s is %d bytes; the limit is %d", what, len(id), MaxIDBytes)
	}
	return nil
}

// ValidateFrameworkInfo checks what a framework subscribes with.
func ValidateFrameworkInfo(p *FrameworkInfo) error {
	if p == nil {
		return nil
	}
	if err := ValidateID("framework ID", p.FrameworkId); err != nil {
		return err
	}
	if err := maxBytes("framework name", p.Name, MaxNameBytes); err != nil {
		return err
	}
	if err := maxBytes("framework role", p.Role, MaxRoleBytes); err != nil {
		return err
	}
	if err := maxBytes("framework user", p.User, MaxUserBytes); err != nil {
		return err
	}
	agents := p.GetConstraints().GetAgents()
	if len(agents) > MaxConstraintAgents {
		return fmt.Errorf("framework constraints name %d agents; the limit is %d", len(agents), MaxConstraintAgents)
	}
	for _, a := range agents {
		if err := maxBytes("framework constraints: agent ID", a, MaxAgentIDBytes); err != nil {
			return err
		}
	}
	if n := proto.Size(p); n > MaxFrameworkInfoBytes {
		return fmt.Errorf("framework info is %d bytes encoded; the limit is %d", n, MaxFrameworkInfoBytes)
	}
	return nil
}

// ValidateTaskInfo checks a task a framework launches and, when it is
// valid, returns its encoded size, which the check computes anyway (a
// caller bounding several tasks together need not encode them again).
// The error names the task (clipped), the field and the bound.
func ValidateTaskInfo(p *TaskInfo) (size int, err error) {
	if p == nil {
		return 0, nil
	}
	if err := ValidateID("task ID", p.TaskId); err != nil {
		return 0, err
	}
	err = func() error {
		if err := maxBytes("name", p.Name, MaxNameBytes); err != nil {
			return err
		}
		if err := maxBytes("agent ID", p.AgentId, MaxAgentIDBytes); err != nil {
			return err
		}
		if n := len(p.Data); n > MaxTaskDataBytes {
			return fmt.Errorf("data is %d bytes; the limit is %d", n, MaxTaskDataBytes)
		}
		n := 0
		for k, v := range p.Labels {
			n += len(k) + len(v)
		}
		if n > MaxLabelsBytes {
			return fmt.Errorf("labels are %d bytes; the limit is %d", n, MaxLabelsBytes)
		}
		n = 0
		for _, in := range p.Input {
			n += len(in)
		}
		if n > MaxInputBytes {
			return fmt.Errorf("input names are %d bytes; the limit is %d", n, MaxInputBytes)
		}
		if err := validateCommand("command", p.Command); err != nil {
			return err
		}
		if e := p.Executor; e != nil {
			if err := ValidateID("executor ID", e.ExecutorId); err != nil {
				return err
			}
			if err := maxBytes("executor name", e.Name, MaxNameBytes); err != nil {
				return err
			}
			if err := maxBytes("executor kind", e.Kind, MaxKindBytes); err != nil {
				return err
			}
			if err := validateCommand("executor command", e.Command); err != nil {
				return err
			}
		}
		if size = proto.Size(p); size > MaxTaskInfoBytes {
			return fmt.Errorf("task info is %d bytes encoded; the limit is %d", size, MaxTaskInfoBytes)
		}
		return nil
	}()
	if err != nil {
		return 0, fmt.Errorf("task %q: %w", Clip(p.TaskId), err)
	}
	return size, nil
}

func validateCommand(what string, c *CommandInfo) error {
	if c == nil {
		return nil
	}
	n := len(c.Value)
	for _, a := range c.Args {
		n += len(a)
	}
	if n > MaxCommandBytes {
		return fmt.Errorf("%s (value and arguments) is %d bytes; the limit is %d", what, n, MaxCommandBytes)
	}
	n = 0
	for _, e := range c.Env {
		n += len(e)
	}
	if n > MaxEnvBytes {
		return fmt.Errorf("%s environment is %d bytes; the limit is %d", what, n, MaxEnvBytes)
	}
	return maxBytes(what+" user", c.User, MaxUserBytes)
}

// ValidateAgentInfo checks what an agent registers with: its ID (the
// master's format), host name and attributes.
func ValidateAgentInfo(p *AgentInfo) error {
	if p == nil {
		return nil
	}
	if err := ValidateAgentID(p.AgentId); err != nil {
		return err
	}
	if err := ValidateHostname(p.Hostname); err != nil {
		return err
	}
	if len(p.Attributes) > MaxAttributes {
		return fmt.Errorf("agent has %d attributes; the limit is %d", len(p.Attributes), MaxAttributes)
	}
	for _, a := range p.Attributes {
		if err := maxBytes("agent attribute name", a.GetName(), MaxAttributeNameBytes); err != nil {
			return err
		}
		if err := printable("agent attribute name", a.GetName()); err != nil {
			return err
		}
		if err := maxBytes(fmt.Sprintf("agent attribute %q value", a.GetName()), a.GetValue(), MaxAttributeValueBytes); err != nil {
			return err
		}
		if err := printable(fmt.Sprintf("agent attribute %q value", a.GetName()), a.GetValue()); err != nil {
			return err
		}
	}
	return nil
}

// ValidateHostname checks an agent's host name: at most
// MaxHostnameBytes, printable UTF-8 (it is logged and shown as it is).
func ValidateHostname(h string) error {
	if err := maxBytes("agent hostname", h, MaxHostnameBytes); err != nil {
		return err
	}
	return printable("agent hostname", h)
}

func maxBytes(what, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%s is %d bytes; the limit is %d", what, len(s), limit)
	}
	return nil
}

// printable refuses control characters and invalid UTF-8 in what ends up
// in logs, the UI and offers verbatim.
func printable(what, s string) error {
	if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s %q has a control character or is not UTF-8", what, Clip(s))
	}
	return nil
}

// ClipBytes is how much of a peer's string Clip keeps.
const ClipBytes = 256

// Clip shortens a string a peer chose (a name, an ID, a message) for a
// log line or an error: at most ClipBytes of it (cut on a rune boundary),
// then its full length, so a 4 MB name costs a log line a few hundred
// bytes and still says how long it was.
func Clip(s string) string {
	if len(s) <= ClipBytes {
		return s
	}
	cut := ClipBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}
