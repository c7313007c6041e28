package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeConfig writes content to a valet.yaml in a new directory and
// returns its path.
func writeConfig(tb testing.TB, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "valet.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// parseServe parses args as valet serve does, environment and file included.
func parseServe(args ...string) (*serveSettings, error) {
	fs, c := newServeFlagSet()
	err := parseFlags(fs, args, &c.sf.config)
	return c, err
}

// TestConfigFileErrors: every way a config file can be wrong gives one
// line naming the file, the line and the setting. {file} stands for the
// file's path.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"unknown key with suggestion", "addr: 127.0.0.1:9000\nmode: token\n\n\n\n\nadr: x\n", `{file}:7: unknown setting "adr" (did you mean "addr"?)`},
		{"unknown key, swapped letters", "mdoe: token\n", `{file}:1: unknown setting "mdoe" (did you mean "mode"?)`},
		{"unknown key with dashes", "--addr: x\n", `{file}:1: unknown setting "--addr" (did you mean "addr"?)`},
		{"unknown key, nothing near", "colour: blue\n", `{file}:1: unknown setting "colour"`},
		{"unknown key of another command", "rounds: 3\n", `{file}:1: unknown setting "rounds"`},
		{"key in capitals", "ADDR: x\n", `{file}:1: unknown setting "ADDR"`},
		{"config inside config", "config: other.yaml\n", `{file}:1: config cannot be set in a config file`},
		{"key set twice", "addr: a\nmode: token\naddr: b\n", `{file}:3: addr is set twice (first on line 1)`},
		{"number as key", "1: x\n", `{file}:1: a setting's name is a word such as addr, not 1`},
		{"list as key", "? [a]\n: x\n", `{file}:1: a setting's name is a word such as addr, not a list`},

		{"bool single-quoted", "cookie-secure: 'true'\n", `{file}:1: cookie-secure: want true or false without quotes, not "true"`},
		{"bool quoted", "cookie-secure: \"false\"\n", `{file}:1: cookie-secure: want true or false without quotes, not "false"`},
		{"bool as yes", "cookie-secure: yes\n", `{file}:1: cookie-secure: want true or false, not "yes"`},
		{"bool as number", "cookie-secure: 1\n", `{file}:1: cookie-secure: want true or false, not 1`},
		{"number as word", "pg-max-conns: ten\n", `{file}:1: pg-max-conns: want a whole number, not "ten"`},
		{"number as float", "pg-max-conns: 1.5\n", `{file}:1: pg-max-conns: want a whole number, not 1.5`},
		{"number too large", "pg-max-conns: 99999999999999999999\n", `{file}:1: pg-max-conns: want a whole number, not 99999999999999999999`},
		{"unsigned negative", "argon2-memory: -1\n", `{file}:1: argon2-memory: "-1" is negative; want 0 or more`},
		{"string as bool", "addr: true\n", `{file}:1: addr: want a string, not true`},
		{"string as list", "mode: [token]\n", `{file}:1: mode: want one value (a string), not a list`},
		{"string as mapping", "mode:\n  kind: token\n", `{file}:2: mode: want a string, not a mapping`},
		{"no value", "db:\n", `{file}:1: db: no value; give one, or remove the line to keep the default`},
		{"null value", "db: ~\n", `{file}:1: db: no value; give one, or remove the line to keep the default`},
		{"binary tag", "addr: !!binary aGk=\n", `{file}:1: addr: want a string, not a value tagged !!binary`},
		{"custom tag", "addr: !env HOME\n", `{file}:1: addr: want a string, not a value tagged !env`},

		{"duration without unit", "access-ttl: 900\n", `{file}:1: access-ttl: "900" is not a duration; write it like 15m, 1h30m or 10s`},
		{"duration misspelt", "access-ttl: 15 minutes\n", `{file}:1: access-ttl: "15 minutes" is not a duration; write it like 15m, 1h30m or 10s`},
		{"duration negative", "session-idle: -1h\n", `{file}:1: session-idle: "-1h" is negative; a duration here is 0 or more`},
		{"duration as bool", "access-ttl: false\n", `{file}:1: access-ttl: want a duration such as 15m, not false`},

		{"bad proxy item", "trusted-proxies:\n  - 10.0.0.0/8\n  - nope\n", `{file}:3: trusted-proxies, item 2: Trusted proxy "nope" is neither an address nor a CIDR.`},
		{"bad proxy in a string", "trusted-proxies: 10.0.0.0/8,300.1.1.1\n", `{file}:1: trusted-proxies: Trusted proxy "300.1.1.1" is neither an address nor a CIDR.`},
		{"bad rule item", "access-rule:\n  - \"*.example.com/admin admin\"\n  - admin\n", `{file}:3: access-rule, item 2: Access rule "admin": want [METHOD,...] HOST/PATH ROLE[,ROLE...], e.g. "*.example.com/admin admin".`},
		{"bad origin item", "trusted-origins: [https://app.example.com, app.example.com]\n", `{file}:1: trusted-origins, item 2: trusted origin "app.example.com": want scheme://host[:port], e.g. https://app.example.com`},
		{"nested list item", "trusted-proxies: [[10.0.0.0/8]]\n", `{file}:1: trusted-proxies: item 1: want a plain value, not a list`},
		{"null list item", "trusted-proxies:\n  -\n", `{file}:2: trusted-proxies: item 1: want a plain value, not nothing`},
		{"bool list item", "trusted-origins: [true]\n", `{file}:1: trusted-origins: item 1: want a plain value, not true`},
		{"bad tier", "throttle-signup: [20/1h, 5]\n", `{file}:1: throttle-signup: Limit "5": want N/DURATION, e.g. 5/15m.`},

		{"old format", "addr = 127.0.0.1:9000\nmode = token\n", `{file}:1: this is the old "name = value" format, which valet no longer reads; the file is YAML now: write each line as "name: value" (here: addr: 127.0.0.1:9000) and lists as [a, b]`},
		{"old format after comments", "# settings\n\n  access-rule = \"*.example.com/admin admin\"\n", `{file}:3: this is the old "name = value" format, which valet no longer reads; the file is YAML now: write each line as "name: value" (here: access-rule: '*.example.com/admin admin') and lists as [a, b]`},
		{"old format, flag names", "--cookie-secure=false\n", `{file}:1: this is the old "name = value" format, which valet no longer reads; the file is YAML now: write each line as "name: value" (here: cookie-secure: false) and lists as [a, b]`},

		{"syntax error", "addr: a\nmode: token\n  session-idle: 1h\n", `{file}:3: mapping values are not allowed in this context`},
		{"unclosed list", "trusted-proxies: [10.0.0.0/8\nmode: token\n", `{file}:2: did not find expected ',' or ']' (while parsing a flow sequence that starts on line 1)`},
		{"tab indent", "addr: a\n\tmode: token\n", `{file}:2: found a tab character that violates indentation (while scanning a plain scalar that starts on line 1)`},
		{"tab before key", "\taddr: a\n", `{file}:1: found character that cannot start any token`},
		{"unquoted star", "access-rule: *.example.com/admin admin\n", `{file}:1: unknown anchor '.example.com/admin' referenced (a value that starts with * must be quoted, e.g. "*.example.com/admin admin")`},
		{"two documents", "addr: a\n---\nmode: token\n", `{file}:2: a second YAML document begins here; put every setting in one`},
		{"top-level list", "- addr: a\n", `{file}:1: want settings as "name: value" lines, not a list`},
		{"top-level scalar", "addr\n", `{file}:1: want settings as "name: value" lines, not "addr"`},
		{"not UTF-8", "addr: a\nmode: \xff\n", `{file}:2: not UTF-8 text`},
		{"NUL byte", "addr: a\x00\n", `{file}:1: holds a control character`},
		{"too large", "# " + strings.Repeat("x", 1<<20) + "\n", `{file}: the config file is over 1 MiB; it should hold a few settings`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.content)
			_, err := parseServe("--config", path)
			want := strings.ReplaceAll(tc.want, "{file}", path)
			if err == nil {
				t.Fatalf("no error, want %s", want)
			}
			if got := err.Error(); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if !isUsage(err) {
				t.Errorf("%v is not a usage error (exit 2)", err)
			}
		})
	}
}

// TestConfigFileUnreadable: a file that cannot be read is named, with why.
func TestConfigFileUnreadable(t *testing.T) {
	dir := t.TempDir()
	noPerm := filepath.Join(dir, "secret.yaml")
	if err := os.WriteFile(noPerm, []byte("addr: a\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.yaml"), "cannot read the config file {path}: no such file or directory"},
		{"directory", dir, "cannot read the config file {path}: is a directory"},
		{"no permission", noPerm, "cannot read the config file {path}: permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "no permission" && os.Geteuid() == 0 {
				t.Skip("root reads every file")
			}
			_, err := parseServe("--config", tc.path)
			want := strings.ReplaceAll(tc.want, "{path}", tc.path)
			if err == nil || err.Error() != want {
				t.Errorf("got %v, want %s", err, want)
			}
		})
	}
}

// TestConfigFileValues: what each kind of setting takes in the file.
func TestConfigFileValues(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		get           func(*serveSettings) any
		want          any
	}{
		{"empty file", "", func(c *serveSettings) any { return c.addr }, "127.0.0.1:8080"},
		{"comments only", "# nothing yet\n", func(c *serveSettings) any { return c.addr }, "127.0.0.1:8080"},
		{"empty document", "---\n", func(c *serveSettings) any { return c.addr }, "127.0.0.1:8080"},
		{"string", "addr: 127.0.0.1:9000\n", func(c *serveSettings) any { return c.addr }, "127.0.0.1:9000"},
		{"string with port only", "addr: :9000\n", func(c *serveSettings) any { return c.addr }, ":9000"},
		{"quoted string", "issuer: \"https://auth.example.com\"\n", func(c *serveSettings) any { return c.vf.issuer }, "https://auth.example.com"},
		{"number as string setting", "audience: 42\n", func(c *serveSettings) any { return c.vf.audience }, "42"},
		{"bool false", "cookie-secure: false\n", func(c *serveSettings) any { return c.cookieSecure }, false},
		{"bool capitalised", "cookie-secure: False\n", func(c *serveSettings) any { return c.cookieSecure }, false},
		{"number", "pg-max-conns: 25\n", func(c *serveSettings) any { return c.sf.pgMaxConns }, 25},
		{"number in hex", "pg-max-conns: 0x10\n", func(c *serveSettings) any { return c.sf.pgMaxConns }, 16},
		{"unsigned", "argon2-memory: 65536\n", func(c *serveSettings) any { return c.vf.argonMemory }, uint(65536)},
		{"duration", "access-ttl: 1h30m\n", func(c *serveSettings) any { return c.vf.accessTTL }, 90 * time.Minute},
		{"duration quoted", "access-ttl: \"15m\"\n", func(c *serveSettings) any { return c.vf.accessTTL }, 15 * time.Minute},
		{"duration zero", "revoke-max-stale: 0\n", func(c *serveSettings) any { return c.vf.revokeMaxStale }, time.Duration(0)},
		{"list", "trusted-proxies: [10.0.0.0/8, 192.0.2.1]\n", func(c *serveSettings) any { return strings.Join(c.trustedProxies, " ") }, "10.0.0.0/8 192.0.2.1"},
		{"list block", "trusted-proxies:\n  - 10.0.0.0/8\n  - 192.0.2.1\n", func(c *serveSettings) any { return strings.Join(c.trustedProxies, " ") }, "10.0.0.0/8 192.0.2.1"},
		{"list as one string", "trusted-proxies: 10.0.0.0/8, 192.0.2.1\n", func(c *serveSettings) any { return strings.Join(c.trustedProxies, " ") }, "10.0.0.0/8 192.0.2.1"},
		{"empty list", "trusted-proxies: []\n", func(c *serveSettings) any { return len(c.trustedProxies) }, 0},
		{"rules, one an item", "access-rule:\n  - \"*.example.com/admin admin\"\n  - \"GET app.example.com/ *\"\n", func(c *serveSettings) any { return len(c.accessRules) }, 2},
		{"rules in a string", "access-rule: \"*.example.com/admin admin; app.example.com/ops ops\"\n", func(c *serveSettings) any { return len(c.accessRules) }, 2},
		{"tiers as list", "throttle-signup: [5/1m, 20/1h]\n", func(c *serveSettings) any { return c.tf.signup.String() }, "5/1m0s,20/1h0m0s"},
		{"tiers off", "throttle-signup: \"off\"\n", func(c *serveSettings) any { return c.tf.signup.String() }, "off"},
		{"alias of a setting", "session-idle: &idle 2h\nrefresh-idle: *idle\n", func(c *serveSettings) any { return c.vf.refreshIdle }, 2 * time.Hour},
		{"windows line ends", "addr: 127.0.0.1:9000\r\nmode: token\r\n", func(c *serveSettings) any { return c.addr + " " + c.vf.mode }, "127.0.0.1:9000 token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseServe("--config", writeConfig(t, tc.content))
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(c); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConfigPrecedence: the command line beats the environment, which
// beats the file; a list given on the command line replaces the file's.
func TestConfigPrecedence(t *testing.T) {
	path := writeConfig(t, `addr: 127.0.0.1:9001
mode: token
access-ttl: 1m
session-idle: 1h
trusted-proxies: [10.0.0.0/8]
cookie-secure: false
`)
	t.Setenv("VALET_MODE", "hybrid")
	t.Setenv("VALET_ACCESS_TTL", "2m")
	t.Setenv("VALET_TRUSTED_PROXIES", "192.0.2.1,192.0.2.2")
	// A bad variable whose flag is on the command line is never read.
	t.Setenv("VALET_SESSION_IDLE", "not a duration")
	c, err := parseServe("--config", path, "--access-ttl", "3m", "--session-idle", "4h", "--cookie-secure")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"addr: file only", c.addr, "127.0.0.1:9001"},
		{"mode: env beats file", c.vf.mode, "hybrid"},
		{"access-ttl: flag beats env and file", c.vf.accessTTL, 3 * time.Minute},
		{"session-idle: flag beats a bad env", c.vf.sessionIdle, 4 * time.Hour},
		{"trusted-proxies: env list replaces the file's", strings.Join(c.trustedProxies, " "), "192.0.2.1 192.0.2.2"},
		{"cookie-secure: flag beats file", c.cookieSecure, true},
		{"sessions: default", c.sf.sessions, "db"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}

}

// TestConfigPrecedenceCases: where the file comes from, and what a flag
// does to the file's values.
func TestConfigPrecedenceCases(t *testing.T) {
	path := writeConfig(t, "addr: 127.0.0.1:9001\n")
	t.Run("VALET_CONFIG names the file", func(t *testing.T) {
		t.Setenv("VALET_CONFIG", path)
		c, err := parseServe()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.addr, "127.0.0.1:9001"; got != want {
			t.Errorf("addr = %s, want %s", got, want)
		}
	})
	t.Run("--config beats VALET_CONFIG", func(t *testing.T) {
		t.Setenv("VALET_CONFIG", writeConfig(t, "addr: 127.0.0.1:9002\n"))
		c, err := parseServe("--config", path)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.addr, "127.0.0.1:9001"; got != want {
			t.Errorf("addr = %s, want %s", got, want)
		}
	})
	t.Run("a bad file value fails though a flag overrides it", func(t *testing.T) {
		bad := writeConfig(t, "access-ttl: soon\n")
		_, err := parseServe("--config", bad, "--access-ttl", "5m")
		if want := bad + `:1: access-ttl: "soon" is not a duration; write it like 15m, 1h30m or 10s`; err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
	t.Run("flag list replaces the file's list", func(t *testing.T) {
		rules := writeConfig(t, "access-rule: [\"a.example.com/x admin\", \"b.example.com/y admin\"]\n")
		c, err := parseServe("--config", rules, "--access-rule", "c.example.com/z ops")
		if err != nil {
			t.Fatal(err)
		}
		if got := len(c.accessRules); got != 1 || c.accessRules[0].Host != "c.example.com" {
			t.Errorf("rules = %+v, want only the flag's", c.accessRules)
		}
	})
}

// TestConfigOtherCommands: a file written for valet serve works for the
// commands that read only some of its settings, and a mistake in the
// settings they skip is still reported.
func TestConfigOtherCommands(t *testing.T) {
	dir := t.TempDir()
	full := writeConfig(t, "addr: 127.0.0.1:9000\nmode: token\naccess-rule: [\"*.example.com/admin admin\"]\ndata-dir: "+dir+"\n")
	for _, tc := range []struct {
		name    string
		args    []string
		content string
		want    string // "" for success
	}{
		{"migrate skips serve's settings", []string{"migrate", "--config", full}, "", ""},
		{"keys list skips serve's settings", []string{"keys", "list", "--config", full}, "", ""},
		{"user list skips serve's settings", []string{"user", "list", "--config", full}, "", ""},
		{"migrate checks serve's settings", []string{"migrate", "--data-dir", dir}, "cookie-secure: maybe\n", `{file}:1: cookie-secure: want true or false, not "maybe"`},
		{"migrate refuses unknown ones", []string{"migrate", "--data-dir", dir}, "adrr: x\n", `{file}:1: unknown setting "adrr" (did you mean "addr"?)`},
		{"bench takes its own", []string{"bench"}, "rounds: 99\n", "99 rounds is over the limit of 20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			path := full
			if tc.content != "" {
				path = writeConfig(t, tc.content)
				args = append(args, "--config", path)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
			want := strings.ReplaceAll(tc.want, "{file}", path)
			switch {
			case want == "" && err != nil:
				t.Fatalf("%v\n%s", err, stderr.String())
			case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Fatalf("got %v, want %s", err, want)
			}
		})
	}
}

// FuzzConfigFile: no file makes the reader panic, and every error is one
// line that names the file.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"addr: 127.0.0.1:9000\nmode: token\n",
		"access-rule: [\"*.example.com/admin admin\"]\n",
		"a: &a [*a]\n",
		"trusted-proxies:\n  - 10.0.0.0/8\n",
		"addr = x\n",
		"? [a]\n: b\n",
		"x: &x {a: *x}\naddr: *x\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "valet.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fs, _ := newServeFlagSet()
		fs.SetOutput(&bytes.Buffer{})
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfigFile(fs, path)
		if err == nil {
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, path) && !strings.HasPrefix(msg, "cannot read the config file "+path) {
			t.Errorf("error does not name the file: %s", msg)
		}
		if strings.ContainsAny(msg, "\n\r") {
			t.Errorf("error is not one line: %q", msg)
		}
	})
}

// TestFlagSuggest: which near names are suggested.
func TestFlagSuggest(t *testing.T) {
	fs, _ := newServeFlagSet()
	names := flagNames(fs)
	for _, tc := range []struct{ typed, want string }{
		{"adr", "addr"},
		{"addrr", "addr"},
		{"mdoe", "mode"},
		{"sesions", "sessions"},
		{"acess-ttl", "access-ttl"},
		{"trusted-proxy", "trusted-proxies"},
		{"cookie-secur", "cookie-secure"},
		{"log", ""},
		{"x", ""},
		{"database", ""},
		{"colour", ""},
	} {
		t.Run(tc.typed, func(t *testing.T) {
			if got := suggest(tc.typed, names); got != tc.want {
				t.Errorf("suggest(%q) = %q, want %q", tc.typed, got, tc.want)
			}
		})
	}
}

// TestFlagKinds: the kind of every flag of valet serve, which decides what
// the file and the environment may write.
func TestFlagKinds(t *testing.T) {
	fs, _ := newServeFlagSet()
	for _, tc := range []struct {
		name string
		want settingKind
	}{
		{"addr", kindString},
		{"cookie-secure", kindBool},
		{"pg-max-conns", kindInt},
		{"argon2-memory", kindUint},
		{"access-ttl", kindDuration},
		{"access-rule", kindList},
		{"trusted-proxies", kindList},
		{"trusted-origins", kindList},
		{"throttle-signup", kindLimits},
	} {
		f := fs.Lookup(tc.name)
		if f == nil {
			t.Errorf("no flag %s", tc.name)
			continue
		}
		if got := kindOf(f.Value); got != tc.want {
			t.Errorf("%s: kind %v, want %v", tc.name, got, tc.want)
		}
	}
	var _ flag.Value = (*checkedValue)(nil)
}
