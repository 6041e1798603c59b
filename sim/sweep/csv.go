package sweep

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mezzo-cluster/mezzo/sim"
)

// Status values of the CSV's status column.
const (
	// StatusOK: every framework that had work finished it.
	StatusOK = "ok"
	// StatusCut: the run was cut short (work left at the horizon, or a
	// check failed); the metrics describe it up to there.
	StatusCut = "cut"
	// StatusFailed: the run could not be built; the metrics are empty.
	StatusFailed = "failed"
)

// runColumns follow the key columns: the run's outcome and its
// cluster-wide metrics (sim.Summary).
var runColumns = []string{"status", "error", "jobs_total", "jobs_done", "virtual_s", "events", "tasks", "rejected", "offers", "cpu_util"}

// frameworkColumns are repeated for each framework instance F as
// "F.column" (sim.FrameworkSummary).
var frameworkColumns = []string{"jobs", "done", "mean_jct_s", "p95_jct_s", "tasks", "locality", "mean_share", "cpu_util"}

// Header is the CSV header of a sweep over the named framework instances.
func Header(frameworks []string) []string {
	h := append(append([]string(nil), KeyColumns...), runColumns...)
	for _, f := range frameworks {
		for _, c := range frameworkColumns {
			h = append(h, f+"."+c)
		}
	}
	return h
}

// record is one run's CSV fields. Numbers are formatted exactly
// (strconv's shortest representation), so equal results give equal bytes.
func record(p Point, frameworks []string, res *sim.Result, runErr error) []string {
	rec := p.Key()
	status, msg := StatusOK, ""
	switch {
	case res == nil:
		status, msg = StatusFailed, errText(runErr)
	case runErr != nil:
		status, msg = StatusCut, errText(runErr)
	}
	rec = append(rec, status, msg)
	if res == nil {
		for len(rec) < len(KeyColumns)+len(runColumns)+len(frameworks)*len(frameworkColumns) {
			rec = append(rec, "")
		}
		return rec
	}
	s := res.Summary
	rec = append(rec, itoa(s.Jobs), itoa(s.Completed), ftoa(s.Virtual), strconv.FormatUint(s.Events, 10),
		itoa(s.Tasks), itoa(s.Rejected), itoa(s.Offers), ftoa(s.Util))
	for _, name := range frameworks {
		var f sim.FrameworkSummary
		for _, x := range s.Frameworks {
			if x.Name == name {
				f = x
				break
			}
		}
		rec = append(rec, itoa(f.Jobs), itoa(f.Completed), ftoa(f.MeanJCT), ftoa(f.P95JCT), itoa(f.Tasks),
			ftoa(f.Locality), ftoa(f.MeanShare), ftoa(f.Utilisation))
	}
	return rec
}

// errText keeps an error on one line: resuming reads the file line by line.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func itoa(v int) string       { return strconv.Itoa(v) }
func ftoa(v float64) string   { return strconv.FormatFloat(v, 'g', -1, 64) }
func keyOf(k []string) string { return strings.Join(k, "\x00") }

// line encodes a record as one CSV line ending in '\n'.
func line(rec []string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(rec) // a bytes.Buffer does not fail
	w.Flush()
	return b.Bytes()
}

// output is the sweep's CSV file, open for appending.
type output struct {
	path   string
	f      *os.File
	header []byte
	// rows are the complete data lines found on opening, by key, and
	// their order in the file.
	rows  map[string][]byte
	order []string
	// discarded is the size of a torn last line dropped on opening.
	discarded int
}

// openOutput opens (or creates) the CSV and reads what an earlier sweep
// left in it. Every data line was written by one write call ending in
// '\n', so an interrupted write can only leave a last line without its
// newline, or one that does not parse: that tail is dropped (its run will
// be redone). Anything wrong before the last line is an error, as is a
// header that is not this sweep's (other frameworks).
func openOutput(path string, header []string) (*output, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	o := &output{path: path, f: f, header: line(header), rows: map[string][]byte{}}
	if err := o.load(len(header)); err != nil {
		f.Close()
		return nil, err
	}
	return o, nil
}

func (o *output) load(fields int) error {
	data, err := io.ReadAll(o.f)
	if err != nil {
		return fmt.Errorf("sweep: %s: %w", o.path, err)
	}
	keep := bytes.LastIndexByte(data, '\n') + 1
	o.discarded = len(data) - keep
	data = data[:keep]
	lines := bytes.SplitAfter(data, []byte{'\n'})
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	switch {
	case len(lines) == 0:
		// New, or nothing but a torn header: start afresh.
		if err := o.truncate(0); err != nil {
			return err
		}
		return o.append(o.header)
	case !bytes.Equal(lines[0], o.header):
		return fmt.Errorf("sweep: %s:1: header is not this sweep's (different --framework?): have %q, want %q; use another --out",
			o.path, strings.TrimSpace(string(lines[0])), strings.TrimSpace(string(o.header)))
	}
	for i := 1; i < len(lines); i++ {
		rec, err := csv.NewReader(bytes.NewReader(lines[i])).Read()
		if err == nil && len(rec) != fields {
			err = fmt.Errorf("%d fields, want %d", len(rec), fields)
		}
		if err != nil {
			if i == len(lines)-1 {
				// The last line is the one a crash could have torn.
				o.discarded += len(lines[i])
				keep -= len(lines[i])
				break
			}
			return fmt.Errorf("sweep: %s:%d: %v", o.path, i+1, err)
		}
		k := keyOf(rec[:len(KeyColumns)])
		if _, dup := o.rows[k]; dup {
			return fmt.Errorf("sweep: %s:%d: run %s appears twice", o.path, i+1, strings.Join(rec[:len(KeyColumns)], ","))
		}
		o.rows[k] = lines[i]
		o.order = append(o.order, k)
	}
	if o.discarded > 0 {
		if err := o.truncate(int64(keep)); err != nil {
			return err
		}
	}
	if _, err := o.f.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("sweep: %s: %w", o.path, err)
	}
	return nil
}

func (o *output) truncate(n int64) error {
	if err := o.f.Truncate(n); err != nil {
		return fmt.Errorf("sweep: %s: %w", o.path, err)
	}
	if _, err := o.f.Seek(n, io.SeekStart); err != nil {
		return fmt.Errorf("sweep: %s: %w", o.path, err)
	}
	return nil
}

// append writes b with one write call and makes it durable before the run
// counts as done.
func (o *output) append(b []byte) error {
	if _, err := o.f.Write(b); err != nil {
		return fmt.Errorf("sweep: %s: %w", o.path, err)
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("sweep: %s: %w", o.path, err)
	}
	return nil
}

// add appends a run's line and remembers it.
func (o *output) add(key string, l []byte) error {
	if err := o.append(l); err != nil {
		return err
	}
	o.rows[key] = l
	o.order = append(o.order, key)
	return nil
}

// rewriteSorted replaces the file with its rows in plan order (rows of
// runs outside the plan, left by an earlier sweep over other values,
// follow in file order). It writes a temporary file and renames it over
// the CSV, so an interruption leaves one or the other whole.
func (o *output) rewriteSorted(plan []Point) error {
	var b bytes.Buffer
	b.Write(o.header)
	used := map[string]bool{}
	for _, p := range plan {
		k := keyOf(p.Key())
		if l, ok := o.rows[k]; ok && !used[k] {
			b.Write(l)
			used[k] = true
		}
	}
	for _, k := range o.order {
		if !used[k] {
			b.Write(o.rows[k])
			used[k] = true
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.path), "."+filepath.Base(o.path)+".*")
	if err != nil {
		return fmt.Errorf("sweep: sorting %s: %w", o.path, err)
	}
	_, err = tmp.Write(b.Bytes())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), o.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("sweep: sorting %s: %w", o.path, err)
	}
	if d, err := os.Open(filepath.Dir(o.path)); err == nil {
		_ = d.Sync() // makes the rename durable where the OS allows
		d.Close()
	}
	return nil
}

func (o *output) close() error {
	if err := o.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("sweep: %s: %w", o.path, err)
	}
	return nil
}
