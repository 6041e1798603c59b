package security

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Action is what a principal asks to do; the object it acts on depends on
// the action (see the constants).
type Action string

// The actions of an ACL file, named as Mesos names its ACLs.
const (
	RegisterFramework Action = "register_frameworks" // object: the role
	RunTask           Action = "run_tasks"           // object: the OS user
	TeardownFramework Action = "teardown_frameworks" // object: the framework's principal
	KillTask          Action = "kill_tasks"          // object: the framework's principal
	RegisterAgent     Action = "register_agents"     // object: "" (any agent)
	ViewState         Action = "view_state"          // object: ""
	ReadSandbox       Action = "read_sandbox"        // object: the framework's principal
	// DrainAgent lets an operator drain and undrain agents (maintenance:
	// no new offers, inverse offers to the frameworks running there).
	DrainAgent Action = "drain_agents" // object: "" (any agent)
)

// Any matches every principal or object in an ACL rule.
const Any = "ANY"

// Actions lists every action, in file order.
var Actions = []Action{RegisterFramework, RunTask, TeardownFramework, KillTask, RegisterAgent, ViewState, ReadSandbox, DrainAgent}

// objectField is the rule field holding an action's objects; "" means the
// action has none.
func (a Action) objectField() string {
	switch a {
	case RegisterFramework:
		return "roles"
	case RunTask:
		return "users"
	case TeardownFramework, KillTask, ReadSandbox:
		return "framework_principals"
	}
	return ""
}

// Authorizer decides whether principal may do action on object. It returns
// nil or a *DeniedError.
type Authorizer interface {
	Allow(ctx context.Context, principal string, action Action, object string) error
}

// AllowAll is the Authorizer of a cluster without an ACL file.
type AllowAll struct{}

// Allow allows.
func (AllowAll) Allow(context.Context, string, Action, string) error { return nil }

// DeniedError is an authorization refusal. It converts to a gRPC
// PermissionDenied status.
type DeniedError struct {
	Principal string
	Action    Action
	Object    string
}

func (e *DeniedError) Error() string {
	p := e.Principal
	if p == "" {
		p = "(anonymous)"
	}
	if e.Action.objectField() == "" {
		return fmt.Sprintf("not authorized: principal %q may not %s", p, e.Action)
	}
	return fmt.Sprintf("not authorized: principal %q may not %s %q (no ACL rule allows it)", p, e.Action, e.Object)
}

// GRPCStatus makes the error a PermissionDenied status for gRPC.
func (e *DeniedError) GRPCStatus() *status.Status {
	return status.New(codes.PermissionDenied, e.Error())
}

// IsDenied reports whether err is (or wraps) a *DeniedError.
func IsDenied(err error) bool {
	var d *DeniedError
	return errors.As(err, &d)
}

// Rule is one entry of an ACL action: these principals may act on these
// objects.
type Rule struct {
	Principals          []string `json:"principals"`
	Roles               []string `json:"roles,omitempty"`
	Users               []string `json:"users,omitempty"`
	FrameworkPrincipals []string `json:"framework_principals,omitempty"`
}

func (r Rule) objects(a Action) []string {
	switch a.objectField() {
	case "roles":
		return r.Roles
	case "users":
		return r.Users
	case "framework_principals":
		return r.FrameworkPrincipals
	}
	return nil
}

// ACL is an Authorizer from an ACL file: default deny, a request is allowed
// when some rule of its action lists the principal (or ANY) and the object
// (or ANY).
type ACL struct {
	rules map[Action][]Rule
}

// LoadACL reads an ACL file (see the package doc).
func LoadACL(path string) (*ACL, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	return ParseACL(path, data)
}

// ParseACL parses an ACL file's content; name is used in errors, which
// name the action and rule at fault.
func ParseACL(name string, data []byte) (*ACL, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var raw map[string][]Rule
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %s", name, jsonError(data, err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: trailing data after the JSON object", name)
	}
	acl := &ACL{rules: map[Action][]Rule{}}
	for key, rules := range raw {
		a := Action(key)
		if !slices.Contains(Actions, a) {
			return nil, fmt.Errorf("%s: unknown action %q (known: %v)", name, key, Actions)
		}
		for i, r := range rules {
			where := fmt.Sprintf("%s: %s[%d]", name, key, i)
			if len(r.Principals) == 0 {
				return nil, fmt.Errorf("%s: no principals", where)
			}
			if slices.Contains(r.Principals, "") {
				return nil, fmt.Errorf("%s: an empty principal", where)
			}
			field := a.objectField()
			for _, other := range []struct {
				name string
				vals []string
			}{{"roles", r.Roles}, {"users", r.Users}, {"framework_principals", r.FrameworkPrincipals}} {
				if other.name != field && len(other.vals) > 0 {
					if field == "" {
						return nil, fmt.Errorf("%s: %q does not apply to %s, which takes principals only", where, other.name, key)
					}
					return nil, fmt.Errorf("%s: %q does not apply to %s (it takes %q)", where, other.name, key, field)
				}
			}
			if field != "" && len(r.objects(a)) == 0 {
				return nil, fmt.Errorf("%s: no %q: say which objects the principals may act on (or [\"ANY\"])", where, field)
			}
		}
		acl.rules[a] = rules
	}
	return acl, nil
}

// Allow implements Authorizer.
func (acl *ACL) Allow(_ context.Context, principal string, action Action, object string) error {
	for _, r := range acl.rules[action] {
		// ANY means any authenticated principal, never the anonymous one.
		if principal == "" || !matches(r.Principals, principal) {
			continue
		}
		if action.objectField() == "" || matches(r.objects(action), object) {
			return nil
		}
	}
	return &DeniedError{Principal: principal, Action: action, Object: object}
}

func matches(list []string, v string) bool {
	return slices.Contains(list, Any) || slices.Contains(list, v)
}
