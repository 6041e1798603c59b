package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mezzo-cluster/mezzo/reports"
	"github.com/mezzo-cluster/mezzo/sim/experiments"
)

// runExperiment is `mezzo experiment NAME|all|report [flags]`: it runs the
// paper's simulated experiments and writes NAME.csv, NAME.md, NAME.png and
// NAME.svg; `report` assembles reports/README.md from its template and the
// fragments.
func runExperiment(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "scalability" {
		// The real runtime's experiment has its own flags (--agents, --sim).
		return runScalabilityExperiment(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "failover" {
		// A real-runtime experiment (runtime/failover), not a simulated one.
		return runFailoverExperiment(ctx, args[1:])
	}
	fs := flag.NewFlagSet("experiment", flag.ContinueOnError)
	out := fs.String("out", "reports/figures", "directory for NAME.csv, NAME.md, NAME.png and NAME.svg")
	asJSON := fs.Bool("json", false, `print {"experiment":NAME,"rows":[...]} on stdout`)
	quick := fs.Bool("quick", false, "reduced sizes (seconds), for tests")
	seeds := fs.Int("seeds", 0, "seeds to average over where results vary (0: the experiment's default, 3)")
	policy := fs.String("policy", "", "policies experiment: comma-separated policies (default: every registered one)")
	template := fs.String("template", "reports/README.tmpl.md", "report: the template")
	report := fs.String("report", "reports/README.md", "report: the file to write")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: mezzo experiment NAME|all|report [flags]\n\nexperiments:\n")
		for _, e := range experiments.All() {
			fmt.Fprintf(fs.Output(), "  %-9s %s\n", e.Name, e.Summary)
		}
		fmt.Fprintf(fs.Output(), "  %-9s every experiment above\n  %-9s assemble the report from -template and the fragments in -out\n\nflags:\n", "all", "report")
		fs.PrintDefaults()
	}
	// Flags may come before or after the name.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if name == "" {
		fs.Usage()
		return fmt.Errorf("no experiment named (known: %s, all, report)", strings.Join(experiments.Names(), ", "))
	}
	if err := checkFlags(fs, nonEmpty("out"), nonNegative("seeds"), knownPolicyList("policy", true)); err != nil {
		return err
	}
	if name == "report" {
		return writeReport(*template, *out, *report)
	}
	var list []experiments.Experiment
	if name == "all" {
		list = experiments.All()
	} else {
		e, err := experiments.Lookup(name)
		if err != nil {
			return err
		}
		list = []experiments.Experiment{e}
	}
	opts := experiments.Options{Quick: *quick, Seeds: *seeds}
	if *policy != "" {
		opts.Policies = strings.Split(*policy, ",")
	}
	interactive := term.IsTerminal(int(os.Stderr.Fd()))
	for _, e := range list {
		o := opts
		var bar *progressbar.ProgressBar
		if interactive {
			o.Progress = func(done, total int) {
				if bar == nil {
					bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(e.Name+" runs"),
						progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
				}
				_ = bar.Set(done)
			}
		}
		start := time.Now()
		res, err := e.Run(ctx, o)
		if bar != nil {
			_ = bar.Finish()
		}
		if err != nil {
			return err
		}
		cmdline := experimentCommand(e.Name, opts)
		if err := writeExperiment(*out, res, cmdline, time.Since(start)); err != nil {
			return err
		}
		if *asJSON {
			if err := json.NewEncoder(os.Stdout).Encode(struct {
				Experiment string `json:"experiment"`
				Rows       any    `json:"rows"`
			}{res.Experiment, res.Rows}); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(os.Stderr, "%s: wrote %s.{csv,md,png,svg} in %v\n", e.Name, filepath.Join(*out, e.Name), time.Since(start).Round(time.Millisecond))
		}
	}
	return nil
}

func experimentCommand(name string, o experiments.Options) string {
	s := "mezzo experiment " + name
	if o.Quick {
		s += " --quick"
	}
	if o.Seeds > 0 {
		s += fmt.Sprintf(" --seeds %d", o.Seeds)
	}
	if len(o.Policies) > 0 {
		s += " --policy " + strings.Join(o.Policies, ",")
	}
	return s
}

// writeExperiment writes the rows as CSV and a Markdown fragment, any
// secondary rows as NAME-series.csv, and the figure. The wall time is not
// written into the files, so they stay byte-identical for a seed.
func writeExperiment(dir string, res *experiments.Result, cmdline string, _ time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, res.Experiment)
	t, err := reports.TableOf(res.Rows)
	if err != nil {
		return err
	}
	var csv bytes.Buffer
	if err := t.WriteCSV(&csv); err != nil {
		return err
	}
	if err := os.WriteFile(base+".csv", csv.Bytes(), 0o644); err != nil {
		return err
	}
	if res.Extra != nil {
		et, err := reports.TableOf(res.Extra)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := et.WriteCSV(&b); err != nil {
			return err
		}
		if err := os.WriteFile(base+"-series.csv", b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	var md bytes.Buffer
	fmt.Fprintf(&md, "Command: `%s` (CSV: [%s.csv](figures/%s.csv))\n\n", cmdline, res.Experiment, res.Experiment)
	if err := t.WriteMarkdown(&md); err != nil {
		return err
	}
	fmt.Fprintf(&md, "\n![%s](figures/%s.png)\n", res.Experiment, res.Experiment)
	if err := os.WriteFile(base+".md", md.Bytes(), 0o644); err != nil {
		return err
	}
	fig, err := experimentFigure(res)
	if err != nil {
		return err
	}
	return fig.Save(base)
}

func writeReport(template, dir, out string) error {
	b, err := os.ReadFile(template)
	if err != nil {
		return err
	}
	doc, err := reports.Assemble(b, template, dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, doc, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", out)
	return nil
}
