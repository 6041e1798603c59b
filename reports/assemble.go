package reports

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Assemble builds a report from a template: every line of the form
// "<!-- include NAME -->" is replaced by the file NAME under dir (a
// generated fragment), wrapped in markers so the result says what was
// generated. Other lines are kept as written: the prose that compares mezzo
// with the paper lives in the template, the numbers in the fragments.
func Assemble(template []byte, templateName, dir string) ([]byte, error) {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(template))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(t, "<!-- include "); ok {
			name, ok := strings.CutSuffix(rest, " -->")
			if !ok || name == "" || strings.Contains(name, "..") {
				return nil, fmt.Errorf("%s:%d: bad include %q (want <!-- include NAME -->)", templateName, line, t)
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", templateName, line, err)
			}
			fmt.Fprintf(&out, "<!-- generated from %s: do not edit here -->\n", name)
			out.Write(bytes.TrimRight(b, "\n"))
			out.WriteString("\n<!-- end of " + name + " -->\n")
			continue
		}
		out.WriteString(sc.Text())
		out.WriteByte('\n')
	}
	return out.Bytes(), sc.Err()
}
