package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Table is rows of text under named columns.
type Table struct {
	Columns []string
	Rows    [][]string
}

// TableOf builds a table from a slice of structs: one column per exported
// field with a json tag (the tag's name; "-" skips it), in field order.
// Floats are printed in the shortest form that reads back the same value,
// so callers round what they want rounded.
func TableOf(rows any) (Table, error) {
	v := reflect.ValueOf(rows)
	if v.Kind() != reflect.Slice {
		return Table{}, fmt.Errorf("reports: rows are a %s, want a slice of structs", v.Kind())
	}
	et := v.Type().Elem()
	if et.Kind() != reflect.Struct {
		return Table{}, fmt.Errorf("reports: rows are a slice of %s, want structs", et.Kind())
	}
	var idx []int
	var t Table
	for i := 0; i < et.NumField(); i++ {
		f := et.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		idx = append(idx, i)
		t.Columns = append(t.Columns, name)
	}
	if len(idx) == 0 {
		return Table{}, fmt.Errorf("reports: %s has no field with a json tag", et)
	}
	for r := 0; r < v.Len(); r++ {
		row := make([]string, len(idx))
		for c, i := range idx {
			s, err := cell(v.Index(r).Field(i))
			if err != nil {
				return Table{}, fmt.Errorf("reports: row %d, column %s: %w", r+1, t.Columns[c], err)
			}
			row[c] = s
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

func cell(v reflect.Value) (string, error) {
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) {
			return "", nil // no value: an empty cell, not "NaN"
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("cannot print a %s", v.Kind())
}

// WriteCSV writes the header and the rows.
func (t Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Columns); err != nil {
		return err
	}
	if err := cw.WriteAll(t.Rows); err != nil {
		return err
	}
	return cw.Error()
}

// WriteMarkdown writes a GitHub-flavoured Markdown table; numeric columns
// are right-aligned.
func (t Table) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	b.WriteString("|")
	for _, c := range t.Columns {
		b.WriteString(" " + esc(c) + " |")
	}
	b.WriteString("\n|")
	for c := range t.Columns {
		if t.numeric(c) {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		b.WriteString("|")
		for _, s := range r {
			if s == "" {
				s = "–"
			}
			b.WriteString(" " + esc(s) + " |")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (t Table) numeric(c int) bool {
	any := false
	for _, r := range t.Rows {
		if r[c] == "" {
			continue
		}
		if _, err := strconv.ParseFloat(r[c], 64); err != nil {
			return false
		}
		any = true
	}
	return any
}
