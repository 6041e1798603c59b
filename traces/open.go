package traces

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Options configure Open. Zero fields take their defaults.
type Options struct {
	// Tasks turns bytes into task counts and durations, for every source.
	Tasks TaskModel
	// Synthetic configures "synthetic:" specs and is ignored by the others.
	Synthetic SyntheticOptions
	// Cluster configures "google:" and "alibaba:" specs.
	Cluster ClusterOptions
}

// The specs Open understands besides a file path, in the order they are
// listed in errors and help text.
var specs = []struct{ spec, what string }{
	{"swim:fb2009", "SWIM's Facebook 2009 day, embedded (5,894 jobs over 24 h)"},
	{"swim:<path>", "a SWIM workload file (tab-separated), same as a bare path"},
	{"synthetic:fb", "jobs drawn from the delay scheduling paper's Facebook size bins"},
	{"google:<path>", "Google cluster trace 2011 task_events CSV, in time order"},
	{"alibaba:<path>", "Alibaba cluster trace 2018 batch_task CSV, sorted by start time"},
}

// Specs returns the specs Open understands, one "spec  description" line
// each, for a command's help text.
func Specs() []string {
	out := make([]string, 0, len(specs)+1)
	for _, s := range specs {
		out = append(out, fmt.Sprintf("%-14s %s", s.spec, s.what))
	}
	return append(out, fmt.Sprintf("%-14s %s", "<path>", "a SWIM workload file"))
}

// nopCloser closes sources that hold nothing open.
type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// Open returns the jobs named by spec:
//
//	swim:fb2009     the embedded SWIM Facebook 2009 day
//	swim:<path>     a SWIM workload file
//	synthetic:fb    a synthetic Facebook workload (opts.Synthetic)
//	google:<path>   a Google 2011 task_events file (opts.Cluster)
//	alibaba:<path>  an Alibaba 2018 batch_task file (opts.Cluster)
//	<path>          a SWIM workload file
//
// The caller must Close the returned Closer when done with the Source; it is
// never nil on success. A spec that looks like "scheme:rest" with a scheme
// Open does not know is an error listing the known specs, unless a file of
// that exact name exists.
func Open(spec string, opts Options) (Source, io.Closer, error) {
	if spec == "" {
		return nil, nil, fmt.Errorf("traces: empty trace spec; known: %s", knownSpecs())
	}
	scheme, rest, hasScheme := strings.Cut(spec, ":")
	if hasScheme && isSchemeName(scheme) {
		switch scheme {
		case "swim":
			if rest == "fb2009" {
				r, err := OpenFB2009(opts.Tasks)
				if err != nil {
					return nil, nil, fmt.Errorf("traces: %s: %w", spec, err)
				}
				return r, nopCloser{}, nil
			}
			if rest == "" {
				return nil, nil, fmt.Errorf("traces: %q names no SWIM trace; known: %s", spec, knownSpecs())
			}
			return openSWIMFile(rest, opts.Tasks)
		case "synthetic":
			if rest != "fb" {
				return nil, nil, fmt.Errorf("traces: unknown synthetic workload %q; known: %s", rest, knownSpecs())
			}
			g, err := NewSynthetic(opts.Synthetic, opts.Tasks)
			if err != nil {
				return nil, nil, fmt.Errorf("traces: %s: %w", spec, err)
			}
			return g, nopCloser{}, nil
		case "google", "alibaba":
			return openClusterFile(scheme, rest, opts.Cluster)
		default:
			if _, err := os.Stat(spec); err != nil {
				return nil, nil, fmt.Errorf("traces: unknown trace scheme %q in %q (and no such file); known: %s", scheme, spec, knownSpecs())
			}
		}
	}
	return openSWIMFile(spec, opts.Tasks)
}

// OpenSWIMFile opens a SWIM workload file. The returned Closer closes the file.
func OpenSWIMFile(path string, model TaskModel) (*SWIMReader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("traces: %w", err)
	}
	r, err := NewSWIMReader(f, path, model)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("traces: %s: %w", path, err), f.Close())
	}
	return r, f, nil
}

func openSWIMFile(path string, model TaskModel) (Source, io.Closer, error) {
	r, c, err := OpenSWIMFile(path, model)
	if err != nil {
		return nil, nil, err
	}
	return r, c, nil
}

// isSchemeName reports whether s can be a scheme: letters, digits, '+', '-'
// and '.', starting with a letter (as in URLs). A single letter is not, so
// that Windows drive paths like C:\trace.tsv stay paths.
func isSchemeName(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func knownSpecs() string {
	names := make([]string, 0, len(specs)+1)
	for _, s := range specs {
		names = append(names, s.spec)
	}
	return strings.Join(append(names, "<path>"), ", ")
}

// openClusterFile opens a Google or Alibaba file as a Source of flattened
// jobs; the Closer closes the file.
func openClusterFile(scheme, path string, opts ClusterOptions) (Source, io.Closer, error) {
	if path == "" {
		return nil, nil, fmt.Errorf("traces: %q names no file; known: %s", scheme+":", knownSpecs())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("traces: %w", err)
	}
	var src ClusterSource
	if scheme == "google" {
		src, err = NewGoogleReader(f, path, opts)
	} else {
		src, err = NewAlibabaReader(f, path, opts)
	}
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("traces: %s: %w", path, err), f.Close())
	}
	return AsSource(src), f, nil
}
