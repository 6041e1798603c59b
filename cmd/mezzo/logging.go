package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// logFlags are the --log-format and --log-level flags every long-running
// command takes.
type logFlags struct {
	format, level *string
}

// addLogFlags adds --log-format (text or json) and --log-level with the
// given default level to fs.
func addLogFlags(fs *flag.FlagSet, level string) logFlags {
	return logFlags{
		format: fs.String("log-format", "text", "log format on stderr: text (for people) or json (one object per line, for collectors)"),
		level:  fs.String("log-level", level, "debug, info, warn or error"),
	}
}

// logger builds the logger the flags ask for, on stderr.
func (f logFlags) logger() (*slog.Logger, error) { return buildLogger(os.Stderr, *f.format, *f.level) }

// buildLogger makes a slog logger writing format ("text" or "json") to w
// at level. The runtime packages log framework, agent, task, executor and
// offer IDs as attributes (framework=…, agent=…, task=…), which the json
// format turns into fields.
func buildLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
