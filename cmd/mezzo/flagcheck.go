package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/alloc"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// Every command checks its flags right after parsing them, with one call:
//
//	if err := checkFlags(fs,
//		positive("ping-interval"),
//		nonNegative("offer-timeout"),
//		rate("rate-limit"),
//		oneOf("isolation", "cgroups", "process"),
//	); err != nil {
//		return err
//	}
//
// A rule names a flag of fs (without dashes) and says what its value must
// be; checkFlags reads the parsed value through flag.Getter and refuses
// the first that breaks its rule as "--NAME VALUE: why", with the value as
// the user gave it. A new flag gets its rule in the same call as its
// neighbours; a check no rule below expresses is a custom(name, func).
// The library packages' zero-means-default never sees a user's explicit
// nonsense: the command refuses it first.

// flagRule is one flag's check.
type flagRule struct {
	name  string
	check func(v any) error
}

// checkFlags applies rules in order and returns the first refusal. A rule
// naming a flag fs does not define panics: it is the command's bug, and
// the flag tests run every command's rules.
func checkFlags(fs *flag.FlagSet, rules ...flagRule) error {
	for _, r := range rules {
		f := fs.Lookup(r.name)
		if f == nil {
			panic(fmt.Sprintf("checkFlags: %s has no flag --%s", fs.Name(), r.name))
		}
		g, ok := f.Value.(flag.Getter)
		if !ok {
			panic(fmt.Sprintf("checkFlags: --%s of %s is not a flag.Getter", r.name, fs.Name()))
		}
		if err := r.check(g.Get()); err != nil {
			return flagError(r.name, g.Get(), err)
		}
	}
	return nil
}

// flagError is the one form of a refused flag: "--NAME VALUE: why".
func flagError(name string, v any, why error) error {
	shown := fmt.Sprint(v)
	if s, ok := v.(string); ok {
		shown = strconv.Quote(s)
	}
	return fmt.Errorf("--%s %s: %w", name, shown, why)
}

func custom(name string, check func(v any) error) flagRule { return flagRule{name, check} }

// number is v as a float64 for the numeric rules; durations count in
// nanoseconds.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case time.Duration:
		return float64(x), true
	}
	return 0, false
}

func kind(v any) string {
	if _, ok := v.(time.Duration); ok {
		return "duration"
	}
	return "number"
}

func finite(v any) (float64, error) {
	x, ok := number(v)
	if !ok {
		panic(fmt.Sprintf("checkFlags: a numeric rule on a %T flag", v))
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, errors.New("want a finite number")
	}
	return x, nil
}

// positive: a number or duration > 0.
func positive(name string) flagRule {
	return flagRule{name, func(v any) error {
		x, err := finite(v)
		if err == nil && x <= 0 {
			err = fmt.Errorf("want a positive %s", kind(v))
		}
		return err
	}}
}

// nonNegative: a number or duration ≥ 0 (0 has a documented meaning).
func nonNegative(name string) flagRule {
	return flagRule{name, func(v any) error {
		x, err := finite(v)
		if err == nil && x < 0 {
			err = fmt.Errorf("want a %s ≥ 0", kind(v))
		}
		return err
	}}
}

// atLeast: an integer ≥ min.
func atLeast(name string, min float64) flagRule {
	return flagRule{name, func(v any) error {
		x, err := finite(v)
		if err == nil && x < min {
			err = fmt.Errorf("want at least %v", min)
		}
		return err
	}}
}

// rate: calls (or events) a second, as security.CheckRate takes them (a
// finite number ≥ 0); what 0 means is the flag's to say.
func rate(name string) flagRule {
	return flagRule{name, func(v any) error {
		x, ok := number(v)
		if !ok {
			panic(fmt.Sprintf("checkFlags: a rate rule on a %T flag", v))
		}
		return security.CheckRate(x)
	}}
}

// byteSize: a size as parseByteSize reads it (bytes, or a whole number
// with B, KB, MB, GB or TB), 0 allowed; positiveByteSize: more than 0.
func byteSize(name string) flagRule         { return sizeAtLeast(name, 0) }
func positiveByteSize(name string) flagRule { return sizeAtLeast(name, 1) }

func sizeAtLeast(name string, min int64) flagRule {
	return flagRule{name, func(v any) error {
		n, err := parseByteSize(v.(string))
		if err == nil && n < min {
			err = errors.New("want a positive size, such as 10MB")
		}
		return err
	}}
}

// parseByteSize reads a size as Mesos's Bytes flags do: a number of
// bytes, or one followed by B, KB, MB, GB or TB (powers of 1024).
func parseByteSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: want a whole number with an optional unit (B, KB, MB, GB, TB)", s)
	}
	if n < 0 {
		return 0, fmt.Errorf("size %q is negative", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: out of range", s)
	}
	return n * mult, nil
}

// someResources parses a resources flag that must name some: what
// mezzo.ParseResources refuses (a name given twice, a zero quantity, ...)
// and text that names nothing ("", "{}") are refused as --NAME VALUE: why.
func someResources(name, text string) (mezzo.Resources, error) {
	r, err := mezzo.ParseResources(text)
	if err == nil && r.IsEmpty() {
		err = errors.New("names no resources, e.g. cpus:1;mem:256")
	}
	if err != nil {
		return r, flagError(name, text, err)
	}
	return r, nil
}

// wholeSeconds: a duration of at least one second, in whole seconds
// (etcd leases are).
func wholeSeconds(name string) flagRule {
	return flagRule{name, func(v any) error {
		d, _ := v.(time.Duration)
		if d < time.Second || d%time.Second != 0 {
			return errors.New("want whole seconds, at least 1s")
		}
		return nil
	}}
}

// nonEmpty: a string with something in it.
func nonEmpty(name string) flagRule {
	return flagRule{name, func(v any) error {
		if strings.TrimSpace(v.(string)) == "" {
			return errors.New("must not be empty")
		}
		return nil
	}}
}

// oneOf: a string among values.
func oneOf(name string, values ...string) flagRule {
	return flagRule{name, func(v any) error {
		if !slices.Contains(values, v.(string)) {
			return fmt.Errorf("want %s", strings.Join(values, " or "))
		}
		return nil
	}}
}

// knownPolicy: a registered allocation policy; knownPolicyList: a comma-separated
// list of them (empty allowed when optional).
func knownPolicy(name string) flagRule {
	return flagRule{name, func(v any) error { return knownPolicies([]string{v.(string)}) }}
}

func knownPolicyList(name string, optional bool) flagRule {
	return flagRule{name, func(v any) error {
		s := v.(string)
		if s == "" && optional {
			return nil
		}
		return knownPolicies(strings.Split(s, ","))
	}}
}

func knownPolicies(ps []string) error {
	names := alloc.DefaultRegistry().Names()
	for _, p := range ps {
		if !slices.Contains(names, strings.TrimSpace(p)) {
			return fmt.Errorf("unknown policy %q (known: %s)", p, strings.Join(names, ", "))
		}
	}
	return nil
}

// hostPort: "host:port" with a numeric port (host may be empty: every
// interface); optionalHostPort also takes "" (the feature is off).
func hostPort(name string) flagRule {
	return flagRule{name, func(v any) error { return checkHostPort(v.(string)) }}
}

func optionalHostPort(name string) flagRule {
	return flagRule{name, func(v any) error {
		if v.(string) == "" {
			return nil
		}
		return checkHostPort(v.(string))
	}}
}

// hostPorts: a comma-separated list of at least one host:port.
func hostPorts(name string) flagRule {
	return flagRule{name, func(v any) error {
		list := splitList(v.(string))
		if len(list) == 0 {
			return errors.New("want host:port (or several, comma-separated)")
		}
		for _, a := range list {
			if err := checkHostPort(a); err != nil {
				return err
			}
		}
		return nil
	}}
}

func checkHostPort(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", a, port)
	}
	return nil
}

// etcdEndpoints: a comma-separated list of etcd client endpoints, each
// an http(s) URL with a host, a unix socket URL or a host:port (as etcd's
// own clients take them); "" is none.
func etcdEndpoints(name string) flagRule {
	return flagRule{name, func(v any) error {
		for _, s := range splitList(v.(string)) {
			if !strings.Contains(s, "://") {
				if err := checkHostPort(s); err != nil {
					return err
				}
				continue
			}
			u, err := url.Parse(s)
			switch {
			case err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
			case err == nil && (u.Scheme == "unix" || u.Scheme == "unixs") && u.Host+u.Path != "":
			default:
				return fmt.Errorf("%q is not an http(s):// or unix:// etcd endpoint, nor host:port", s)
			}
		}
		return nil
	}}
}

// existingFile: "" (not given) or a path to a regular file that exists.
func existingFile(name string) flagRule {
	return flagRule{name, func(v any) error {
		p := v.(string)
		if p == "" {
			return nil
		}
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("cannot use the file: %w", errors.Unwrap(err))
		}
		if !st.Mode().IsRegular() {
			return errors.New("is not a regular file")
		}
		return nil
	}}
}
