package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/httpapi"
)

// envName is the environment variable that feeds flag name: --data-dir is
// VALET_DATA_DIR.
func envName(name string) string {
	return "VALET_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnvAndFile gives every flag not set on the command line its value
// from the environment, then from the config file (lines of "name = value";
// '#' starts a comment). Command line beats environment beats file.
func applyEnvAndFile(fs *flag.FlagSet, configPath string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	file := map[string]string{}
	if configPath != "" {
		var err error
		if file, err = readConfigFile(configPath); err != nil {
			return err
		}
		for name := range file {
			if fs.Lookup(name) == nil {
				return fmt.Errorf("config file %s: unknown setting %q", configPath, name)
			}
		}
	}
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || firstErr != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				firstErr = fmt.Errorf("%s=%q: %v", envName(f.Name), v, err)
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := fs.Set(f.Name, v); err != nil {
				firstErr = fmt.Errorf("config file %s: %s = %q: %v", configPath, f.Name, v, err)
			}
		}
	})
	return firstErr
}

func readConfigFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config file: %v", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("config file %s line %d: want name = value", path, n)
		}
		name = strings.TrimPrefix(strings.TrimSpace(name), "--")
		value = strings.Trim(strings.TrimSpace(value), `"`)
		out[name] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %v", path, err)
	}
	return out, nil
}

// listFlag is a flag that may be given many times, or comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// accessRulesFlag collects forward-auth rules; each value holds one rule or
// several separated by ';' (commas separate a rule's roles).
type accessRulesFlag []httpapi.AccessRule

func (f *accessRulesFlag) String() string { return fmt.Sprint(len(*f), " rules") }
func (f *accessRulesFlag) Set(v string) error {
	for _, part := range strings.Split(v, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		r, err := httpapi.ParseAccessRule(part)
		if err != nil {
			return errors.New(valet.Message(err))
		}
		*f = append(*f, r)
	}
	return nil
}

// usageError is a mistake in how the command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u) || errors.Is(err, flag.ErrHelp)
}
