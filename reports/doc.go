// Package reports turns result rows into figures and tables: PNG and SVG
// figures drawn with gonum/plot, Markdown and CSV tables, and the assembly
// of the reproduction report (README.md in this directory) from a
// hand-written template and generated fragments.
//
// It knows nothing about how rows were produced: the simulated experiments
// (package sim/experiments) and the runtime's measurements plot through the
// same calls. Rows are plain structs; a table's columns are their fields'
// json names, in declaration order, so the CSV header, the Markdown table
// and the JSON a command prints agree.
//
//	t, err := reports.TableOf(rows)          // []T, T a struct
//	err = t.WriteCSV(w)                      // header from json tags
//	fig := reports.Figure{Panels: []reports.Panel{{Title: "Locality",
//		YLabel: "local map tasks (%)", Bars: &reports.Bars{...}}}}
//	err = fig.Save("out/locality")           // out/locality.png and .svg
//
// Output is deterministic: the same rows give byte-identical CSV, Markdown
// and SVG.
package reports
