package reports

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type row struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	N     int     `json:"n"`
	skip  int     // unexported: not a column
	Other string  `json:"-"`
}

func TestTableOf(t *testing.T) {
	tb, err := TableOf([]row{{Name: "a|b", Value: 1.5, N: 2, skip: 1}, {Name: "c", Value: 0.25, N: 3}})
	if err != nil {
		t.Fatal(err)
	}
	var csv, md bytes.Buffer
	if err := tb.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	if got, want := csv.String(), "name,value,n\na|b,1.5,2\nc,0.25,3\n"; got != want {
		t.Errorf("CSV %q, want %q", got, want)
	}
	if err := tb.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), `a\|b`) || !strings.Contains(md.String(), "---:|") {
		t.Errorf("markdown does not escape pipes or right-align numbers:\n%s", md.String())
	}
	if _, err := TableOf(42); err == nil {
		t.Error("TableOf(42): no error")
	}
}

func TestFigureSaveWritesPNGAndSVG(t *testing.T) {
	base := filepath.Join(t.TempDir(), "f")
	fig := Figure{Panels: []Panel{
		{Title: "lines", XLabel: "x (s)", YLabel: "y (%)", Lines: []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{3, 4}, Err: []float64{1, 1}}}},
		{Title: "bars", YLabel: "y", Bars: &Bars{Categories: []string{"p", "q"}, Series: []string{"s"}, Values: [][]float64{{1, 2}}, Err: [][]float64{{0.1, 0.2}}}},
		{Title: "cdf", XLabel: "t (s)", YLabel: "fraction", CDF: []Dist{{Name: "d", Values: []float64{3, 1, 2}}}, LogX: true},
	}}
	if err := fig.Save(base); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(base + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	cfg, err := png.DecodeConfig(fh)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width < 500 || cfg.Height < 3*cfg.Width/2 {
		t.Errorf("PNG %dx%d, want 16 cm wide and 10 cm per panel at 96 dpi", cfg.Width, cfg.Height)
	}
	svg, err := os.ReadFile(base + ".svg")
	if err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("SVG missing or not SVG: %v", err)
	}
	bad := Figure{Panels: []Panel{{Title: "two kinds", Lines: []Series{{Name: "a", X: []float64{1}, Y: []float64{1}}}, CDF: []Dist{{Name: "b", Values: []float64{1}}}}}}
	if err := bad.Save(base); err == nil || !strings.Contains(err.Error(), "two kinds") {
		t.Errorf("a panel with two kinds: %v, want an error naming it", err)
	}
}

func TestAssemble(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.md"), []byte("| a |\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := Assemble([]byte("# T\n<!-- include x.md -->\nprose\n"), "t.md", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "| a |") || !strings.Contains(string(out), "prose") {
		t.Errorf("assembled:\n%s", out)
	}
	if _, err := Assemble([]byte("ok\n<!-- include missing.md -->\n"), "t.md", dir); err == nil || !strings.Contains(err.Error(), "t.md:2") {
		t.Errorf("missing fragment: %v, want an error naming t.md:2", err)
	}
}
