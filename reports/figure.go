package reports

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Series is a named line: points (X[i], Y[i]) and, when Err is set, a
// symmetric error bar of Err[i] at each point.
type Series struct {
	Name string
	X, Y []float64
	Err  []float64
	// Dashed draws the line dashed (a baseline, a formula).
	Dashed bool
}

// Bars is a grouped bar chart: one group per category on the x axis, one bar
// per series in each group. Values[s][g] is series s in group g; Err, when
// set, has the same shape.
type Bars struct {
	Categories []string
	Series     []string
	Values     [][]float64
	Err        [][]float64
}

// Dist is a named sample drawn as an empirical CDF.
type Dist struct {
	Name   string
	Values []float64
}

// Panel is one plot: exactly one of Lines, Bars or CDF is drawn.
type Panel struct {
	Title          string
	XLabel, YLabel string // with units, "time (s)"
	Lines          []Series
	Bars           *Bars
	CDF            []Dist
	// YMin and YMax fix the y range when YMax > YMin.
	YMin, YMax float64
	// LogX draws the x axis on a log scale (positive values only).
	LogX bool
}

// Figure is one or more panels stacked in a column, written as PNG and SVG.
type Figure struct {
	Panels []Panel
	// Width and Height of the whole figure; zero means 16 cm wide and
	// 10 cm per panel.
	Width, Height vg.Length
}

// Save writes base+".png" and base+".svg", creating the directory.
func (f Figure) Save(base string) error {
	if len(f.Panels) == 0 {
		return errors.New("reports: a figure needs at least one panel")
	}
	plots := make([]*plot.Plot, len(f.Panels))
	for i, p := range f.Panels {
		pl, err := p.plot()
		if err != nil {
			return fmt.Errorf("reports: %s: panel %d (%q): %w", base, i+1, p.Title, err)
		}
		plots[i] = pl
	}
	w, h := f.Width, f.Height
	if w == 0 {
		w = 16 * vg.Centimeter
	}
	if h == 0 {
		h = vg.Length(len(plots)) * 10 * vg.Centimeter
	}
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return err
	}
	png := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96))}
	svg := vgsvg.New(w, h)
	draws := []struct {
		ext string
		cv  vg.CanvasWriterTo
	}{{".png", png}, {".svg", svg}}
	for _, d := range draws {
		dc := draw.New(d.cv)
		if len(plots) == 1 {
			plots[0].Draw(dc)
		} else {
			t := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadY: vg.Millimeter * 4}
			grid := make([][]*plot.Plot, len(plots))
			for i := range plots {
				grid[i] = []*plot.Plot{plots[i]}
			}
			cs := plot.Align(grid, t, dc)
			for i := range plots {
				plots[i].Draw(cs[i][0])
			}
		}
		var buf bytes.Buffer
		if _, err := d.cv.WriteTo(&buf); err != nil {
			return fmt.Errorf("reports: %s%s: %w", base, d.ext, err)
		}
		if err := os.WriteFile(base+d.ext, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (p Panel) plot() (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text, pl.Y.Label.Text = p.XLabel, p.YLabel
	pl.Legend.Top = true
	pl.Add(plotter.NewGrid())
	kinds := 0
	if len(p.Lines) > 0 {
		kinds++
	}
	if p.Bars != nil {
		kinds++
	}
	if len(p.CDF) > 0 {
		kinds++
	}
	if kinds != 1 {
		return nil, errors.New("want exactly one of lines, bars or a CDF")
	}
	if p.LogX {
		pl.X.Scale = plot.LogScale{}
		pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	var err error
	switch {
	case len(p.Lines) > 0:
		err = addLines(pl, p.Lines)
	case p.Bars != nil:
		err = addBars(pl, p.Bars)
	default:
		err = addCDF(pl, p.CDF)
	}
	if err != nil {
		return nil, err
	}
	if p.YMax > p.YMin {
		pl.Y.Min, pl.Y.Max = p.YMin, p.YMax
	}
	return pl, nil
}

type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

func addLines(pl *plot.Plot, lines []Series) error {
	for i, s := range lines {
		if len(s.X) != len(s.Y) || (s.Err != nil && len(s.Err) != len(s.Y)) {
			return fmt.Errorf("series %q: %d x, %d y and %d error values", s.Name, len(s.X), len(s.Y), len(s.Err))
		}
		if len(s.X) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(s.X))
		for j := range s.X {
			xys[j] = plotter.XY{X: s.X[j], Y: s.Y[j]}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("series %q: %w", s.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		pl.Add(l)
		if len(s.X) <= 40 {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return err
			}
			sc.GlyphStyle.Color = plotutil.Color(i)
			sc.GlyphStyle.Shape = plotutil.Shape(i)
			pl.Add(sc)
			pl.Legend.Add(s.Name, l, sc)
		} else {
			pl.Legend.Add(s.Name, l)
		}
		if s.Err != nil {
			ye := make(plotter.YErrors, len(s.Err))
			for j, e := range s.Err {
				ye[j].Low, ye[j].High = e, e
			}
			eb, err := plotter.NewYErrorBars(errPoints{xys, ye})
			if err != nil {
				return fmt.Errorf("series %q: %w", s.Name, err)
			}
			eb.Color = plotutil.Color(i)
			pl.Add(eb)
		}
	}
	return nil
}

func addBars(pl *plot.Plot, b *Bars) error {
	if len(b.Values) != len(b.Series) {
		return fmt.Errorf("bars: %d series names, %d value rows", len(b.Series), len(b.Values))
	}
	n := len(b.Series)
	width := vg.Points(60 / float64(max(n, 1)))
	if len(b.Categories) > 6 {
		width = vg.Points(36 / float64(max(n, 1)))
	}
	for s, vals := range b.Values {
		if len(vals) != len(b.Categories) {
			return fmt.Errorf("bars: series %q has %d values for %d categories", b.Series[s], len(vals), len(b.Categories))
		}
		bc, err := plotter.NewBarChart(plotter.Values(vals), width)
		if err != nil {
			return fmt.Errorf("bars: series %q: %w", b.Series[s], err)
		}
		bc.Color = plotutil.Color(s)
		bc.LineStyle.Width = 0
		bc.Offset = vg.Length(float64(s)-float64(n-1)/2) * width
		pl.Add(bc)
		pl.Legend.Add(b.Series[s], bc)
		if n == 1 && b.Err != nil && b.Err[s] != nil {
			// Error bars are drawn for a single series only: plotter's
			// error bars cannot be shifted onto grouped bars.
			xys := make(plotter.XYs, len(vals))
			ye := make(plotter.YErrors, len(vals))
			for g, v := range vals {
				xys[g] = plotter.XY{X: float64(g), Y: v}
				ye[g].Low, ye[g].High = b.Err[s][g], b.Err[s][g]
			}
			eb, err := plotter.NewYErrorBars(errPoints{xys, ye})
			if err != nil {
				return err
			}
			pl.Add(eb)
		}
	}
	pl.NominalX(b.Categories...)
	pl.Y.Min = 0
	pl.Legend.Left = false
	return nil
}

func addCDF(pl *plot.Plot, ds []Dist) error {
	for i, d := range ds {
		if len(d.Values) == 0 {
			continue
		}
		v := append([]float64(nil), d.Values...)
		sort.Float64s(v)
		xys := make(plotter.XYs, 0, 2*len(v))
		for j, x := range v {
			xys = append(xys, plotter.XY{X: x, Y: float64(j) / float64(len(v))}, plotter.XY{X: x, Y: float64(j+1) / float64(len(v))})
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("distribution %q: %w", d.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i)
		pl.Add(l)
		pl.Legend.Add(d.Name, l)
	}
	pl.Y.Min, pl.Y.Max = 0, 1
	pl.Legend.Left = false
	pl.Legend.Top = false
	pl.Legend.XOffs, pl.Legend.YOffs = -vg.Millimeter*2, vg.Millimeter*2
	return nil
}
