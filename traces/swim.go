package traces

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	_ "embed"
)

// The SWIM Facebook 2009 day: 24 random one-hour samples of a 600-machine
// Hadoop cluster laid end to end, 5,894 jobs over 86,400 s. Copied unchanged
// from SWIM (FB-2009_samples_24_times_1hr_0.tsv) under its BSD licence.
var (
	//go:embed swim/fb2009.tsv
	fb2009TSV string
	//go:embed swim/LICENSE
	swimLicense string
)

// FB2009Jobs is the number of jobs in the embedded SWIM Facebook 2009 day.
const FB2009Jobs = 5894

// SWIMLicense returns the licence of the embedded SWIM data, which its terms
// require to accompany any redistribution (a binary that embeds the trace is one).
func SWIMLicense() string { return swimLicense }

// swimFields is the column count of a SWIM workload line: job id, submit
// time (s), gap to the previous job (s), map input bytes, shuffle bytes,
// reduce output bytes.
const swimFields = 6

// maxSWIMLine bounds one line; real lines are under 100 bytes, so anything
// near this is not a SWIM file.
const maxSWIMLine = 1 << 20

// SWIMReader streams jobs from SWIM's tab-separated workload format, one
// line at a time, so traces larger than memory replay fine.
//
// Each line is: job id, submit time (s), gap to the previous job (s), map
// input bytes, shuffle bytes, reduce output bytes; no header. Times may be
// decimal; byte counts are integers. Blank lines are skipped. The gap column
// is checked to be non-negative but otherwise ignored: submit time is
// authoritative. A submit time earlier than the previous line's is an error,
// since a Source promises non-decreasing submits. Job ids are not checked for
// uniqueness, which would need memory proportional to the trace.
type SWIMReader struct {
	name       string
	sc         *bufio.Scanner
	model      TaskModel
	line       int
	jobs       int
	prevSubmit float64
	err        error // sticky: once failed, always failed
}

// NewSWIMReader reads SWIM lines from r. name identifies the input in error
// messages (a file path, or "swim:fb2009"). Zero fields of model take
// their defaults (see TaskModel).
func NewSWIMReader(r io.Reader, name string, model TaskModel) (*SWIMReader, error) {
	m, err := model.withDefaults()
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*KiB), maxSWIMLine)
	return &SWIMReader{name: name, sc: sc, model: m}, nil
}

// Next implements Source. Errors are *ParseError values naming the input and
// the line.
func (s *SWIMReader) Next() (Job, error) {
	if s.err != nil {
		return Job{}, s.err
	}
	j, err := s.next()
	if err != nil {
		s.err = err
	}
	return j, err
}

func (s *SWIMReader) next() (Job, error) {
	for s.sc.Scan() {
		s.line++
		line := strings.TrimRight(s.sc.Text(), " \r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		j, err := s.parse(line)
		if err != nil {
			return Job{}, &ParseError{File: s.name, Line: s.line, Err: err}
		}
		s.jobs++
		return j, nil
	}
	if err := s.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Job{}, &ParseError{File: s.name, Line: s.line + 1, Err: fmt.Errorf("line longer than %d bytes: not a SWIM workload file", maxSWIMLine)}
		}
		return Job{}, &ParseError{File: s.name, Line: s.line, Err: err}
	}
	if s.jobs == 0 {
		return Job{}, &ParseError{File: s.name, Err: ErrEmptyTrace}
	}
	return Job{}, io.EOF
}

func (s *SWIMReader) parse(line string) (Job, error) {
	var f [swimFields]string
	n := 0
	for rest := line; ; n++ {
		field, tail, more := strings.Cut(rest, "\t")
		if n < swimFields {
			f[n] = field
		}
		if !more {
			n++
			break
		}
		rest = tail
	}
	if n != swimFields {
		return Job{}, fmt.Errorf("want %d tab-separated fields (job id, submit s, gap s, input, shuffle, output bytes), got %d", swimFields, n)
	}
	id := strings.TrimSpace(f[0])
	if id == "" {
		return Job{}, errors.New("empty job id")
	}
	submit, err := parseSeconds("submit time", f[1])
	if err != nil {
		return Job{}, err
	}
	if _, err := parseSeconds("gap", f[2]); err != nil {
		return Job{}, err
	}
	if s.jobs > 0 && submit < s.prevSubmit {
		return Job{}, fmt.Errorf("submit time %s s goes backwards (previous job submitted at %s s)",
			strconv.FormatFloat(submit, 'f', -1, 64), strconv.FormatFloat(s.prevSubmit, 'f', -1, 64))
	}
	var bytes [3]int64
	for i, name := range [3]string{"map input bytes", "shuffle bytes", "reduce output bytes"} {
		v, err := strconv.ParseInt(strings.TrimSpace(f[3+i]), 10, 64)
		if err != nil {
			return Job{}, fmt.Errorf("%s %q is not an integer", name, f[3+i])
		}
		if v < 0 {
			return Job{}, fmt.Errorf("%s %d is negative", name, v)
		}
		bytes[i] = v
	}
	if bytes[1] > math.MaxInt64-bytes[2] {
		return Job{}, errors.New("shuffle plus output bytes overflow 64 bits")
	}
	s.prevSubmit = submit
	j := Job{
		ID:           id,
		Submit:       time.Duration(math.Round(submit * float64(time.Second))),
		InputBytes:   bytes[0],
		ShuffleBytes: bytes[1],
		OutputBytes:  bytes[2],
	}
	s.model.fill(&j)
	return j, nil
}

// maxSeconds keeps a seconds value inside time.Duration's range.
const maxSeconds = float64(math.MaxInt64/int64(time.Second)) - 1

func parseSeconds(what, field string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(field), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s %q is not a number of seconds", what, field)
	}
	if v < 0 {
		return 0, fmt.Errorf("%s %s s is negative", what, field)
	}
	if v > maxSeconds {
		return 0, fmt.Errorf("%s %s s is too large (more than %.0f s)", what, field, maxSeconds)
	}
	return v, nil
}

// OpenFB2009 returns the embedded SWIM Facebook 2009 day. It needs nothing on
// disk.
func OpenFB2009(model TaskModel) (*SWIMReader, error) {
	return NewSWIMReader(strings.NewReader(fb2009TSV), "swim:fb2009", model)
}
