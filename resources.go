package mezzo

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Well-known resource names. Any other name is accepted as a scalar.
const (
	CPUs  = "cpus"
	Mem   = "mem"
	Disk  = "disk"
	GPUs  = "gpus"
	Ports = "ports"
)

// scalarUnit is the fixed-point resolution of scalar resources. Mesos keeps
// scalars to three decimal places so that repeated add/subtract never drifts;
// mezzo stores them as integer thousandths for the same reason, which also
// makes "no resource is lost or duplicated" an exact check.
const scalarUnit = 1000

// Scalar is one named scalar quantity, stored in thousandths.
type Scalar struct {
	Name  string
	milli int64
}

// Value is the quantity as a float (e.g. 0.5 cpus).
func (s Scalar) Value() float64 { return float64(s.milli) / scalarUnit }

// Range is an inclusive range of values, such as ports 31000-32000.
type Range struct {
	Begin, End uint64
}

// Resources is a bundle of named scalar resources (cpus, mem, disk, gpus, and
// any other name) plus a set of port ranges. The zero value is empty.
//
// Resources is a value: every operation returns a new bundle and never
// modifies its receiver or arguments, so bundles may be shared freely.
type Resources struct {
	scalars []Scalar // sorted by name, no zero entries
	ports   []Range  // sorted, disjoint, non-adjacent
}

// NewResources builds a bundle from scalar quantities (rounded to thousandths)
// and port ranges. Negative quantities are rejected.
func NewResources(scalars map[string]float64, ports ...Range) (Resources, error) {
	var r Resources
	names := make([]string, 0, len(scalars))
	for n := range scalars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := scalars[n]
		if err := checkScalar(n, v); err != nil {
			return Resources{}, err
		}
		if m := toMilli(v); m != 0 {
			r.scalars = append(r.scalars, Scalar{Name: n, milli: m})
		}
	}
	for _, p := range ports {
		if p.Begin > p.End {
			return Resources{}, fmt.Errorf("ports range [%d-%d]: begin is after end", p.Begin, p.End)
		}
	}
	r.ports = normalizeRanges(append([]Range(nil), ports...))
	return r, nil
}

// MustResources is NewResources for literals in code and tests; it panics on
// bad input.
func MustResources(scalars map[string]float64, ports ...Range) Resources {
	r, err := NewResources(scalars, ports...)
	if err != nil {
		panic(err)
	}
	return r
}

// Cpus is a bundle of v cpus.
func Cpus(v float64) Resources { return MustResources(map[string]float64{CPUs: v}) }

// MemMB is a bundle of v megabytes of memory.
func MemMB(v float64) Resources { return MustResources(map[string]float64{Mem: v}) }

func checkScalar(name string, v float64) error {
	if name == "" {
		return fmt.Errorf("resource with an empty name")
	}
	if name == Ports {
		return fmt.Errorf("resource %q is a range, not a scalar", name)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("resource %q: %v is not a number", name, v)
	}
	if v < 0 {
		return fmt.Errorf("resource %q: %v is negative", name, v)
	}
	if v > math.MaxInt64/scalarUnit/2 {
		return fmt.Errorf("resource %q: %v is too large", name, v)
	}
	return nil
}

func toMilli(v float64) int64 { return int64(math.Round(v * scalarUnit)) }

// Get returns the quantity of a scalar resource, 0 when absent.
func (r Resources) Get(name string) float64 { return float64(r.milli(name)) / scalarUnit }

func (r Resources) milli(name string) int64 {
	for _, s := range r.scalars {
		if s.Name == name {
			return s.milli
		}
	}
	return 0
}

// Scalars returns the scalar entries, sorted by name. The slice is a copy.
func (r Resources) Scalars() []Scalar { return append([]Scalar(nil), r.scalars...) }

// Names returns the names of the scalar resources present, sorted.
func (r Resources) Names() []string {
	out := make([]string, len(r.scalars))
	for i, s := range r.scalars {
		out[i] = s.Name
	}
	return out
}

// PortRanges returns the port ranges, sorted and merged. The slice is a copy.
func (r Resources) PortRanges() []Range { return append([]Range(nil), r.ports...) }

// PortCount is the number of ports in the bundle.
func (r Resources) PortCount() uint64 {
	var n uint64
	for _, p := range r.ports {
		n += p.End - p.Begin + 1
	}
	return n
}

// IsEmpty reports whether the bundle holds nothing.
func (r Resources) IsEmpty() bool { return len(r.scalars) == 0 && len(r.ports) == 0 }

// Equal reports whether two bundles hold exactly the same resources.
func (r Resources) Equal(o Resources) bool {
	if len(r.scalars) != len(o.scalars) || len(r.ports) != len(o.ports) {
		return false
	}
	for i := range r.scalars {
		if r.scalars[i] != o.scalars[i] {
			return false
		}
	}
	for i := range r.ports {
		if r.ports[i] != o.ports[i] {
			return false
		}
	}
	return true
}

// Add returns the sum of two bundles (port ranges are united).
func (r Resources) Add(o Resources) Resources {
	if o.IsEmpty() {
		return r
	}
	if r.IsEmpty() {
		return o
	}
	out := Resources{scalars: mergeScalars(r.scalars, o.scalars, 1)}
	switch {
	case len(o.ports) == 0:
		out.ports = r.ports
	case len(r.ports) == 0:
		out.ports = o.ports
	default:
		out.ports = normalizeRanges(append(append([]Range(nil), r.ports...), o.ports...))
	}
	return out
}

// Sub returns r minus o. Quantities that would go below zero stop at zero and
// ports not in r are ignored; callers that must not lose track of resources
// check [Resources.Contains] first.
func (r Resources) Sub(o Resources) Resources {
	if o.IsEmpty() || r.IsEmpty() {
		return r
	}
	out := Resources{scalars: mergeScalars(r.scalars, o.scalars, -1)}
	if len(o.ports) == 0 {
		out.ports = r.ports
	} else {
		out.ports = subtractRanges(r.ports, o.ports)
	}
	return out
}

// Contains reports whether o fits inside r: every scalar of o is at most
// r's, and every port of o is in r.
func (r Resources) Contains(o Resources) bool {
	i := 0
	for _, s := range o.scalars {
		for i < len(r.scalars) && r.scalars[i].Name < s.Name {
			i++
		}
		if i == len(r.scalars) || r.scalars[i].Name != s.Name || r.scalars[i].milli < s.milli {
			return false
		}
	}
	return rangesContain(r.ports, o.ports)
}

// ContainsAny reports whether r holds at least one of the given bundles.
func (r Resources) ContainsAny(options []Resources) bool {
	for _, o := range options {
		if r.Contains(o) {
			return true
		}
	}
	return false
}

// Min returns the element-wise minimum of two bundles: scalars present in
// both, at the smaller quantity, and the ports they share.
func (r Resources) Min(o Resources) Resources {
	var out Resources
	i := 0
	for _, s := range r.scalars {
		for i < len(o.scalars) && o.scalars[i].Name < s.Name {
			i++
		}
		if i < len(o.scalars) && o.scalars[i].Name == s.Name {
			m := min(s.milli, o.scalars[i].milli)
			if m > 0 {
				out.scalars = append(out.scalars, Scalar{Name: s.Name, milli: m})
			}
		}
	}
	out.ports = subtractRanges(r.ports, subtractRanges(r.ports, o.ports))
	return out
}

// ScalarPart returns only the scalar part of the bundle; quotas and shares are
// defined on scalars.
func (r Resources) ScalarPart() Resources { return Resources{scalars: r.scalars} }

// DominantShare is the largest fraction of total that r holds over any scalar
// resource present in total (the "dominant share" of DRF). Resources absent
// from total are ignored.
func (r Resources) DominantShare(total Resources) float64 {
	share := 0.0
	i := 0
	for _, s := range r.scalars {
		for i < len(total.scalars) && total.scalars[i].Name < s.Name {
			i++
		}
		if i < len(total.scalars) && total.scalars[i].Name == s.Name && total.scalars[i].milli > 0 {
			if f := float64(s.milli) / float64(total.scalars[i].milli); f > share {
				share = f
			}
		}
	}
	return share
}

// Share is the fraction of total that r holds of one named resource.
func (r Resources) Share(name string, total Resources) float64 {
	t := total.milli(name)
	if t == 0 {
		return 0
	}
	return float64(r.milli(name)) / float64(t)
}

// String prints the Mesos text form, e.g. "cpus:4;mem:8192;ports:[31000-32000]".
// The empty bundle prints as "{}".
func (r Resources) String() string {
	if r.IsEmpty() {
		return "{}"
	}
	var b strings.Builder
	for i, s := range r.scalars {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(s.Name)
		b.WriteByte(':')
		b.WriteString(strconv.FormatFloat(s.Value(), 'f', -1, 64))
	}
	if len(r.ports) > 0 {
		if len(r.scalars) > 0 {
			b.WriteByte(';')
		}
		b.WriteString(Ports)
		b.WriteString(":[")
		for i, p := range r.ports {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%d-%d", p.Begin, p.End)
		}
		b.WriteByte(']')
	}
	return b.String()
}

// ParseResources reads the Mesos text form: entries "name:value" separated by
// ";", where value is a positive number or, for ports, a bracketed list of
// ranges "[31000-32000,40000-40010]". An empty string (or "{}", the empty
// bundle's String) is an empty bundle. Errors name the entry that is wrong,
// and text that cannot mean what it says is refused rather than read
// loosely: a name given twice ("cpus:4;cpus:2" is not 6), a zero quantity
// ("cpus:0" offers nothing; leave the entry out), text with no entries
// (";;;"), and a name that differs from a well-known one only by case
// ("CPUS:2" is not a new resource: did you mean cpus?).
func ParseResources(text string) (Resources, error) {
	text = strings.TrimSpace(text)
	if text == "" || text == "{}" {
		return Resources{}, nil
	}
	scalars := map[string]float64{}
	var ports []Range
	seen := map[string]string{} // lower-cased name → the entry's name
	entries := 0
	for i, entry := range strings.Split(text, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		entries++
		name, value, ok := strings.Cut(entry, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || value == "" {
			return Resources{}, fmt.Errorf("resources %q: entry %d %q is not name:value", text, i+1, entry)
		}
		if strings.ContainsAny(name, "()") {
			return Resources{}, fmt.Errorf("resources %q: entry %d %q: reserved resources (name(role)) are not supported", text, i+1, entry)
		}
		if known := wellKnownFold(name); known != "" && known != name {
			return Resources{}, fmt.Errorf("resources %q: entry %d %q: unknown resource %q; did you mean %s? (names are case-sensitive)", text, i+1, entry, name, known)
		}
		if prev, dup := seen[strings.ToLower(name)]; dup {
			if prev == name {
				return Resources{}, fmt.Errorf("resources %q: entry %d %q: %s is given twice; give each resource once", text, i+1, entry, name)
			}
			return Resources{}, fmt.Errorf("resources %q: entry %d %q: %s and %s differ only by case; give each resource once", text, i+1, entry, prev, name)
		}
		seen[strings.ToLower(name)] = name
		if strings.HasPrefix(value, "[") {
			rs, err := parseRanges(value)
			if err != nil {
				return Resources{}, fmt.Errorf("resources %q: entry %d %q: %w", text, i+1, entry, err)
			}
			if name != Ports {
				return Resources{}, fmt.Errorf("resources %q: entry %d %q: only %q takes ranges", text, i+1, entry, Ports)
			}
			if len(rs) == 0 {
				return Resources{}, fmt.Errorf("resources %q: entry %d %q: no port ranges; leave the entry out", text, i+1, entry)
			}
			ports = append(ports, rs...)
			continue
		}
		if name == Ports {
			return Resources{}, fmt.Errorf("resources %q: entry %d %q: ports must be ranges like [31000-32000]", text, i+1, entry)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return Resources{}, fmt.Errorf("resources %q: entry %d %q: %q is not a number", text, i+1, entry, value)
		}
		if err := checkScalar(name, v); err != nil {
			return Resources{}, fmt.Errorf("resources %q: entry %d: %w", text, i+1, err)
		}
		if toMilli(v) == 0 {
			return Resources{}, fmt.Errorf("resources %q: entry %d %q: a zero quantity (below 0.001) means nothing; leave the entry out", text, i+1, entry)
		}
		scalars[name] = v
	}
	if entries == 0 {
		return Resources{}, fmt.Errorf("resources %q: no entries (want name:value;name:value)", text)
	}
	return NewResources(scalars, ports...)
}

// wellKnownFold is the well-known resource name that name equals but for
// case, or "".
func wellKnownFold(name string) string {
	for _, k := range []string{CPUs, Mem, Disk, GPUs, Ports} {
		if strings.EqualFold(name, k) {
			return k
		}
	}
	return ""
}

// MustParseResources is ParseResources for literals; it panics on bad text.
func MustParseResources(text string) Resources {
	r, err := ParseResources(text)
	if err != nil {
		panic(err)
	}
	return r
}

// MarshalText makes Resources print in the Mesos text form in JSON and flags.
func (r Resources) MarshalText() ([]byte, error) {
	if r.IsEmpty() {
		return []byte(""), nil
	}
	return []byte(r.String()), nil
}

// UnmarshalText parses the Mesos text form.
func (r *Resources) UnmarshalText(b []byte) error {
	v, err := ParseResources(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

func parseRanges(value string) ([]Range, error) {
	if !strings.HasSuffix(value, "]") {
		return nil, fmt.Errorf("range list %q does not end with ]", value)
	}
	body := strings.TrimSpace(value[1 : len(value)-1])
	if body == "" {
		return nil, nil
	}
	var out []Range
	for _, part := range strings.Split(body, ",") {
		part = strings.TrimSpace(part)
		lo, hi, ok := strings.Cut(part, "-")
		if !ok {
			hi = lo
		}
		b, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		e, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("range %q is not begin-end with whole numbers", part)
		}
		if b > e {
			return nil, fmt.Errorf("range %q: begin is after end", part)
		}
		out = append(out, Range{Begin: b, End: e})
	}
	return out, nil
}

// mergeScalars adds (sign=1) or subtracts (sign=-1, clamped at zero) two
// sorted scalar lists.
func mergeScalars(a, b []Scalar, sign int64) []Scalar {
	// Bundles are small (cpus, mem, disk, ...): merge on the stack and
	// allocate the exact result, nothing at all when it is empty (an
	// agent's whole free bundle offered, a task's slot given back).
	var buf [8]Scalar
	if len(a)+len(b) > len(buf) {
		big := make([]Scalar, len(a)+len(b))
		if n := mergeInto(big, a, b, sign); n > 0 {
			return big[:n:n]
		}
		return nil
	}
	n := mergeInto(buf[:], a, b, sign)
	if n == 0 {
		return nil
	}
	out := make([]Scalar, n)
	copy(out, buf[:n])
	return out
}

// mergeInto writes the merge of a and b into dst, which has room for both,
// and returns the number of entries written.
func mergeInto(dst, a, b []Scalar, sign int64) int {
	n, i, j := 0, 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].Name < b[j].Name):
			dst[n] = a[i]
			n++
			i++
		case i == len(a) || b[j].Name < a[i].Name:
			if sign > 0 {
				dst[n] = b[j]
				n++
			}
			j++
		default:
			if v := a[i].milli + sign*b[j].milli; v > 0 {
				dst[n] = Scalar{Name: a[i].Name, milli: v}
				n++
			}
			i++
			j++
		}
	}
	return n
}

func normalizeRanges(rs []Range) []Range {
	if len(rs) == 0 {
		return nil
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Begin < rs[j].Begin })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.Begin <= last.End+1 && last.End != math.MaxUint64 {
			if r.End > last.End {
				last.End = r.End
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

func subtractRanges(a, b []Range) []Range {
	if len(b) == 0 || len(a) == 0 {
		return a
	}
	var out []Range
	for _, r := range a {
		cur := []Range{r}
		for _, s := range b {
			var next []Range
			for _, c := range cur {
				if s.End < c.Begin || s.Begin > c.End {
					next = append(next, c)
					continue
				}
				if s.Begin > c.Begin {
					next = append(next, Range{c.Begin, s.Begin - 1})
				}
				if s.End < c.End {
					next = append(next, Range{s.End + 1, c.End})
				}
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return out
}

func rangesContain(a, b []Range) bool {
	for _, s := range b {
		ok := false
		for _, r := range a {
			if s.Begin >= r.Begin && s.End <= r.End {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
