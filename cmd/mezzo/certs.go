package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// runCerts is `mezzo certs init DIR`: a CA and certificates for a test
// cluster.
func runCerts(_ context.Context, args []string) error {
	if len(args) == 0 || args[0] != "init" {
		return errors.New("usage: mezzo certs init [--hosts h1,h2] [--principals p1,p2] [--days N] DIR")
	}
	fs := flag.NewFlagSet("mezzo certs init", flag.ContinueOnError)
	hosts := fs.String("hosts", "", "extra host names or IPs for the master's and agent's certificates, comma-separated")
	principals := fs.String("principals", "", "extra client principals to issue certificates for, comma-separated")
	days := fs.Int("days", 365, "validity of every certificate, in days")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	// Flags may follow DIR too (mezzo certs init certs/ --hosts h).
	var dirs []string
	for fs.NArg() > 0 {
		dirs = append(dirs, fs.Arg(0))
		if err := parseFlags(fs, fs.Args()[1:]); err != nil {
			return err
		}
	}
	if len(dirs) != 1 {
		return fmt.Errorf("name one directory: mezzo certs init DIR (got %d: %q)", len(dirs), dirs)
	}
	if err := checkFlags(fs, positive("days"), custom("hosts", func(v any) error {
		for _, h := range commaList(v.(string)) {
			if err := checkCertHost(h); err != nil {
				return fmt.Errorf("%q: %w", h, err)
			}
		}
		return nil
	})); err != nil {
		return err
	}
	if err := security.CheckPrincipalNames(commaList(*principals)); err != nil {
		return fmt.Errorf("--principals %q: %w", *principals, err)
	}
	files, err := security.InitDir(dirs[0], security.InitOptions{
		Hosts: commaList(*hosts), Principals: commaList(*principals), Validity: time.Duration(*days) * 24 * time.Hour,
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Println(f)
	}
	return nil
}

func commaList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func masterLimitedMethods() []string { return master.LimitedMethods }

// checkCertHost refuses a --hosts entry no DNS name or IP in a
// certificate could be: spaces, slashes, control characters, more than
// 253 bytes. (An agent's --hostname is only reported, and takes what the
// master takes: api.ValidateHostname.)
func checkCertHost(h string) error {
	if len(h) > 253 {
		return errors.New("longer than a host name may be (253)")
	}
	for _, r := range h {
		if r <= ' ' || r == 0x7f || r == '/' {
			return errors.New("not a host name: it holds spaces, slashes or control characters")
		}
	}
	return nil
}
