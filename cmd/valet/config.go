package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/httpapi"
)

//go:generate go test -run ^TestConfigDoc$ -update .

// envName is the environment variable that feeds flag name: --data-dir is
// VALET_DATA_DIR.
func envName(name string) string {
	return "VALET_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseFlags parses args into fs, then fills what is unset from the
// environment and the config file (configFlag, or else VALET_CONFIG). -h
// returns a helpRequest with the help text. A mistake returns a usageError
// of one line that names the flag, variable or file line.
func parseFlags(fs *flag.FlagSet, args []string, configFlag *string) error {
	usage := fs.Usage
	// The flag package prints the whole flag list on every mistake; one
	// line that says what is wrong is easier to act on.
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	if err := parseCommandLine(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return helpRequest{helpText(fs, usage)}
		}
		return err
	}
	cfg := *configFlag
	if cfg == "" {
		cfg = os.Getenv("VALET_CONFIG")
	}
	if err := applyEnvAndFile(fs, cfg); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; %s -h lists the flags", fs.Arg(0), fs.Name())}
	}
	return nil
}

// parseCommandLine runs fs.Parse with every value wrapped, so that a bad
// value is reported in valet's words rather than the flag package's.
func parseCommandLine(fs *flag.FlagSet, args []string) error {
	var bad error
	fs.VisitAll(func(f *flag.Flag) { f.Value = &checkedValue{Value: f.Value, name: f.Name, bad: &bad} })
	defer fs.VisitAll(func(f *flag.Flag) { f.Value = f.Value.(*checkedValue).Value })
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	if bad != nil {
		return usageError{bad.Error()}
	}
	// The flag package has no error types; these texts are part of its
	// behaviour since Go 1.
	hint := fs.Name() + " -h lists the flags"
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		if s := suggest(name, flagNames(fs)); s != "" {
			return usageError{fmt.Sprintf("unknown flag --%s (did you mean --%s?); %s", name, s, hint)}
		}
		return usageError{fmt.Sprintf("unknown flag --%s; %s", name, hint)}
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return usageError{fmt.Sprintf("--%s needs a value; %s", name, hint)}
	}
	return usageError{msg + "; " + hint}
}

// checkedValue wraps a flag's value while the command line is parsed, and
// keeps the first failure in valet's words.
type checkedValue struct {
	flag.Value
	name string
	bad  *error
}

func (v *checkedValue) IsBoolFlag() bool { return kindOf(v.Value) == kindBool }

func (v *checkedValue) Set(s string) error {
	if err := setValue(v.Value, s); err != nil {
		if *v.bad == nil {
			*v.bad = fmt.Errorf("--%s: %s", v.name, err)
		}
		return err
	}
	return nil
}

// helpRequest is what -h asks for: text to print on standard output, and
// a successful exit.
type helpRequest struct{ text string }

func (h helpRequest) Error() string { return "help requested" }

// helpText is the help of fs: the command's own usage when it set one,
// else a line of usage and the flags.
func helpText(fs *flag.FlagSet, usage func()) string {
	var b strings.Builder
	fs.SetOutput(&b)
	usage()
	fs.SetOutput(io.Discard)
	// NewFlagSet's own usage starts so; valet's list says more (the
	// variables, --flag spelling).
	if !strings.HasPrefix(b.String(), "Usage of "+fs.Name()+":\n") {
		return b.String()
	}
	b.Reset()
	fmt.Fprintf(&b, "Usage: %s [flags]\n\n", fs.Name())
	writeFlagHelp(&b, fs)
	return b.String()
}

// writeFlagHelp lists the flags of fs with their variables and defaults.
func writeFlagHelp(w io.Writer, fs *flag.FlagSet) {
	if fs.Lookup("config") != nil {
		fmt.Fprint(w, "Each flag also reads the environment variable shown with it, and the setting of\n"+
			"its name in the --config YAML file; the command line beats the environment,\n"+
			"which beats the file.\n\n")
	}
	fmt.Fprint(w, "Flags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		switch k := kindOf(f.Value); k {
		case kindBool:
			arg = ""
		case kindString:
		default:
			arg = k.String()
		}
		if arg != "" {
			arg = " " + arg
		}
		fmt.Fprintf(w, "  --%s%s  (%s", f.Name, arg, envName(f.Name))
		if d := displayDefault(f); d != "" {
			fmt.Fprintf(w, ", default %s", d)
		}
		fmt.Fprintf(w, ")\n        %s\n", usage)
	})
}

// settingKind is what a flag takes, which decides how the environment and
// the config file may write it.
type settingKind int

const (
	kindString settingKind = iota
	kindBool
	kindInt
	kindUint
	kindDuration
	// kindList takes many values: repeated, comma-separated, or a YAML list.
	kindList
	// kindLimits takes throttle tiers: comma-separated, or a YAML list.
	kindLimits
)

func (k settingKind) String() string {
	return [...]string{"string", "bool", "int", "uint", "duration", "list", "limits"}[k]
}

// want says what a setting of kind k looks like, for messages.
func (k settingKind) want() string {
	return [...]string{"a string", "true or false", "a whole number", "a whole number",
		"a duration such as 15m", "a list or a comma-separated value", "tiers such as 5/15m"}[k]
}

func kindOf(v flag.Value) settingKind {
	switch v.(type) {
	case *listFlag, *accessRulesFlag, *proxiesFlag, *originsFlag:
		return kindList
	case *limitsFlag:
		return kindLimits
	}
	if g, ok := v.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			return kindBool
		case time.Duration:
			return kindDuration
		case int, int64:
			return kindInt
		case uint, uint64:
			return kindUint
		}
	}
	return kindString
}

// setValue sets v to s and returns the reason in valet's words when s is
// not a value of v's kind.
func setValue(v flag.Value, s string) error {
	k := kindOf(v)
	if err := v.Set(s); err != nil {
		switch k {
		case kindBool:
			return fmt.Errorf("%q is not true or false", s)
		case kindDuration:
			return fmt.Errorf("%q is not a duration; write it like 15m, 1h30m or 10s", s)
		case kindInt:
			if _, err := strconv.ParseInt(s, 0, 64); errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("%q is too large", s)
			}
			return fmt.Errorf("%q is not a whole number", s)
		case kindUint:
			if strings.HasPrefix(s, "-") {
				return fmt.Errorf("%q is negative; want 0 or more", s)
			}
			if _, err := strconv.ParseUint(s, 0, 64); errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("%q is too large", s)
			}
			return fmt.Errorf("%q is not a whole number", s)
		}
		return err
	}
	if k == kindDuration {
		// Every duration here is a lifetime, a timeout or a window.
		if d, _ := v.(flag.Getter).Get().(time.Duration); d < 0 {
			return fmt.Errorf("%q is negative; a duration here is 0 or more", s)
		}
	}
	return nil
}

// reflectNew returns a new zero value of v's type.
func reflectNew(v flag.Value) flag.Value {
	return reflect.New(reflect.TypeOf(v).Elem()).Interface().(flag.Value)
}

// displayDefault is a flag's default as a person would write it, or "".
func displayDefault(f *flag.Flag) string {
	d := f.DefValue
	switch kindOf(f.Value) {
	case kindDuration:
		if v, err := time.ParseDuration(d); err == nil {
			return shortDuration(v)
		}
	case kindLimits:
		parts := strings.Split(d, ",")
		for i, p := range parts {
			if n, per, ok := strings.Cut(p, "/"); ok {
				if v, err := time.ParseDuration(per); err == nil {
					parts[i] = n + "/" + shortDuration(v)
				}
			}
		}
		return strings.Join(parts, ",")
	case kindInt, kindUint:
		if d == "0" {
			return ""
		}
	}
	return d
}

// shortDuration writes d without its zero tails: 15m, 720h, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// applyEnvAndFile gives every flag not set on the command line its value
// from the environment, then from the YAML config file at configPath.
// Command line beats environment beats file.
func applyEnvAndFile(fs *flag.FlagSet, configPath string) error {
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var file map[string]fileSetting
	if configPath != "" {
		var err error
		if file, err = loadConfigFile(fs, configPath); err != nil {
			return err
		}
	}
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if onCommandLine[f.Name] || firstErr != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := setValue(f.Value, v); err != nil {
				firstErr = usageError{fmt.Sprintf("environment variable %s: %s", envName(f.Name), err)}
			}
			return
		}
		if s, ok := file[f.Name]; ok {
			firstErr = s.apply(f.Value)
		}
	})
	return firstErr
}

// maxConfigSize bounds the config file, which holds a few dozen lines.
const maxConfigSize = 1 << 20

// oldFormat matches the first line of a file of "name = value" lines, the
// format valet read before YAML.
var oldFormat = regexp.MustCompile(`^[a-z-]+\s*=`)

// fileSetting is one setting read from the config file, checked but not
// yet applied.
type fileSetting struct {
	path, name string
	line       int
	kind       settingKind
	list       bool
	items      []fileItem
}

type fileItem struct {
	value string
	line  int
}

// apply sets v from s, and returns an error naming the file and line.
func (s fileSetting) apply(v flag.Value) error {
	if !s.list {
		if err := setValue(v, s.items[0].value); err != nil {
			return usageError{fmt.Sprintf("%s:%d: %s: %s", s.path, s.line, s.name, err)}
		}
		return nil
	}
	if s.kind == kindLimits {
		// Throttle tiers are one value whose parts a list spells out.
		parts := make([]string, len(s.items))
		for i, it := range s.items {
			parts[i] = it.value
		}
		if err := setValue(v, strings.Join(parts, ",")); err != nil {
			return usageError{fmt.Sprintf("%s:%d: %s: %s", s.path, s.line, s.name, err)}
		}
		return nil
	}
	for i, it := range s.items {
		if err := setValue(v, it.value); err != nil {
			return usageError{fmt.Sprintf("%s:%d: %s, item %d: %s", s.path, it.line, s.name, i+1, err)}
		}
	}
	return nil
}

// loadConfigFile reads the YAML file at path: a mapping whose keys are the
// names of fs's flags. Settings of valet serve that fs does not take are
// skipped, so that one file serves every command. Every value is checked,
// whether or not the command line or the environment overrides it.
func loadConfigFile(fs *flag.FlagSet, path string) (map[string]fileSetting, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	root, err := parseConfigYAML(path, data)
	if err != nil || root == nil {
		return nil, err
	}
	serve, _ := newServeFlagSet()
	names := flagNames(fs)
	for _, n := range flagNames(serve) {
		if fs.Lookup(n) == nil {
			names = append(names, n)
		}
	}
	out := map[string]fileSetting{}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolveAlias(root.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			return nil, usageError{fmt.Sprintf("%s:%d: a setting's name is a word such as addr, not %s", path, k.Line, describeNode(k))}
		}
		name := k.Value
		if first, ok := seen[name]; ok {
			return nil, usageError{fmt.Sprintf("%s:%d: %s is set twice (first on line %d)", path, k.Line, name, first)}
		}
		seen[name] = k.Line
		if name == "config" {
			return nil, usageError{fmt.Sprintf("%s:%d: config cannot be set in a config file", path, k.Line)}
		}
		f, apply := fs.Lookup(name), true
		if f == nil {
			// A setting of valet serve that this command does not take
			// is checked, and skipped.
			f, apply = serve.Lookup(name), false
		}
		if f == nil {
			msg := fmt.Sprintf("%s:%d: unknown setting %q", path, k.Line, name)
			if s := suggest(name, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, usageError{msg}
		}
		s, err := readSetting(path, name, kindOf(f.Value), k.Line, v)
		if err != nil {
			return nil, err
		}
		// A fresh value of the flag's type checks the setting now, so that
		// a mistake in the file is found even while a flag overrides it.
		if err := s.apply(reflectNew(f.Value)); err != nil {
			return nil, err
		}
		if apply {
			out[name] = s
		}
	}
	return out, nil
}

// readConfigFile reads at most maxConfigSize bytes of UTF-8 text from path.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{fmt.Sprintf("cannot read the config file %s: %s", path, pathReason(err))}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, usageError{fmt.Sprintf("cannot read the config file %s: %s", path, pathReason(err))}
	}
	if len(data) > maxConfigSize {
		return nil, usageError{fmt.Sprintf("%s: the config file is over 1 MiB; it should hold a few settings", path)}
	}
	for n, line := range bytes.Split(data, []byte("\n")) {
		if !utf8.Valid(line) {
			return nil, usageError{fmt.Sprintf("%s:%d: not UTF-8 text", path, n+1)}
		}
		if bytes.ContainsFunc(line, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\r' || r == 0x7f }) {
			return nil, usageError{fmt.Sprintf("%s:%d: holds a control character", path, n+1)}
		}
	}
	return data, nil
}

// pathReason is the reason of a file error without the path, which the
// message names already.
func pathReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseConfigYAML returns the top-level mapping of data, or nil for a file
// with no settings.
func parseConfigYAML(path string, data []byte) (*yaml.Node, error) {
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if oldFormat.MatchString(line) {
			name, value, _ := strings.Cut(line, "=")
			return nil, usageError{fmt.Sprintf("%s:%d: this is the old \"name = value\" format, which valet no longer reads; "+
				"the file is YAML now: write each line as \"name: value\" (here: %s) and lists as [a, b]",
				path, n+1, convertOldLine(strings.TrimSpace(name), strings.Trim(strings.TrimSpace(value), `"`)))}
		}
		break
	}
	var docs []yaml.Node
	if err := yaml.Load(data, &docs, yaml.WithAllDocuments()); err != nil {
		return nil, yamlError(path, err)
	}
	if len(docs) == 0 {
		return nil, nil
	}
	if len(docs) > 1 {
		return nil, usageError{fmt.Sprintf("%s:%d: a second YAML document begins here; put every setting in one", path, docs[1].Line)}
	}
	root := &docs[0]
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	root = resolveAlias(root)
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, usageError{fmt.Sprintf("%s:%d: want settings as \"name: value\" lines, not %s", path, root.Line, describeNode(root))}
	}
	return root, nil
}

// convertOldLine writes an old "name = value" line as YAML.
func convertOldLine(name, value string) string {
	name = strings.TrimLeft(name, "-")
	if _, err := strconv.ParseBool(value); err == nil {
		return name + ": " + value
	}
	out, err := yaml.Dump(value)
	if err != nil {
		return name + ": " + strconv.Quote(value)
	}
	return name + ": " + strings.TrimSpace(string(out))
}

// yamlError says where and why the YAML parser stopped.
func yamlError(path string, err error) error {
	var le *yaml.LoadError
	if !errors.As(err, &le) {
		return usageError{fmt.Sprintf("%s: %v", path, err)}
	}
	msg := strings.TrimPrefix(le.Message, "yaml: ")
	if strings.HasPrefix(msg, "unknown anchor") {
		// "access-rule: *.example.com/admin admin" reads as an alias.
		msg += ` (a value that starts with * must be quoted, e.g. "*.example.com/admin admin")`
	}
	if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark.Line != le.Mark.Line {
		msg += fmt.Sprintf(" (%s that starts on line %d)", le.ContextMsg, le.ContextMark.Line)
	}
	if le.Mark.Line > 0 {
		return usageError{fmt.Sprintf("%s:%d: %s", path, le.Mark.Line, msg)}
	}
	return usageError{fmt.Sprintf("%s: %s", path, msg)}
}

// readSetting checks that node n has the YAML type of a setting of kind k.
func readSetting(path, name string, k settingKind, line int, n *yaml.Node) (fileSetting, error) {
	s := fileSetting{path: path, name: name, line: line, kind: k}
	bad := func(at int, format string, args ...any) (fileSetting, error) {
		return fileSetting{}, usageError{fmt.Sprintf("%s:%d: %s: ", path, at, name) + fmt.Sprintf(format, args...)}
	}
	switch n.Kind {
	case yaml.MappingNode:
		return bad(n.Line, "want %s, not a mapping", k.want())
	case yaml.SequenceNode:
		if k != kindList && k != kindLimits {
			return bad(n.Line, "want one value (%s), not a list", k.want())
		}
		s.list = true
		for i, it := range n.Content {
			it = resolveAlias(it)
			if it.Kind != yaml.ScalarNode || !plainScalar(it) {
				return bad(it.Line, "item %d: want a plain value, not %s", i+1, describeNode(it))
			}
			s.items = append(s.items, fileItem{value: it.Value, line: it.Line})
		}
		return s, nil
	}
	tag := n.ShortTag()
	if tag == "!!null" {
		return bad(n.Line, "no value; give one, or remove the line to keep the default")
	}
	value := n.Value
	switch k {
	case kindBool:
		if tag != "!!bool" {
			if quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0; quoted &&
				(strings.EqualFold(value, "true") || strings.EqualFold(value, "false")) {
				return bad(n.Line, "want true or false without quotes, not %q", value)
			}
			return bad(n.Line, "want true or false, not %s", describeNode(n))
		}
		value = strings.ToLower(value)
	case kindInt, kindUint:
		if tag != "!!int" {
			return bad(n.Line, "want %s, not %s", k.want(), describeNode(n))
		}
		// YAML's reading of the number (0x10, 0o17, 1_000), not the flag's.
		var i int64
		if err := n.Decode(&i); err != nil {
			return bad(n.Line, "%q is too large", value)
		}
		value = strconv.FormatInt(i, 10)
	case kindDuration:
		if tag != "!!str" && tag != "!!int" {
			return bad(n.Line, "want %s, not %s", k.want(), describeNode(n))
		}
	default:
		if !plainScalar(n) {
			return bad(n.Line, "want %s, not %s", k.want(), describeNode(n))
		}
	}
	s.items = []fileItem{{value: value, line: n.Line}}
	return s, nil
}

// plainScalar reports whether n is a string or a number: a value that a
// string setting takes as written.
func plainScalar(n *yaml.Node) bool {
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!timestamp":
		return true
	}
	return false
}

// describeNode names what n is, for messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch t := n.ShortTag(); t {
	case "!!null":
		return "nothing"
	case "!!bool", "!!int", "!!float":
		return n.Value
	case "!!str", "!!timestamp":
		return strconv.Quote(n.Value)
	default:
		return "a value tagged " + t
	}
}

// resolveAlias follows a YAML alias (*name) to the node it names.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

// flagNames lists the names of fs's flags, in order.
func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// suggest returns the candidate nearest to s, if it is near enough to be
// what was meant, else "".
func suggest(s string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		if d := editDistance(s, c); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := max(1, min(3, (len(s)+2)/4))
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// splitList splits a comma-separated value, dropping empty parts.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// listFlag is a flag that may be given many times, or comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

// proxiesFlag is a list of addresses or CIDRs, each checked as it is set.
type proxiesFlag []string

func (l *proxiesFlag) String() string { return strings.Join(*l, ",") }
func (l *proxiesFlag) Set(v string) error {
	for _, p := range splitList(v) {
		if _, err := httpapi.ParseTrustedProxies([]string{p}); err != nil {
			return errors.New(valet.Message(err))
		}
		*l = append(*l, p)
	}
	return nil
}

// originsFlag is a list of origins (scheme://host[:port]), each checked as
// it is set with the rule the CSRF check applies.
type originsFlag []string

func (l *originsFlag) String() string { return strings.Join(*l, ",") }
func (l *originsFlag) Set(v string) error {
	for _, o := range splitList(v) {
		if err := http.NewCrossOriginProtection().AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("trusted origin %q: want scheme://host[:port], e.g. https://app.example.com", o)
		}
		*l = append(*l, o)
	}
	return nil
}

// accessRulesFlag collects forward-auth rules; each value holds one rule or
// several separated by ';' (commas separate a rule's roles).
type accessRulesFlag []httpapi.AccessRule

func (f *accessRulesFlag) String() string {
	if len(*f) == 0 {
		return ""
	}
	return fmt.Sprint(len(*f), " rules")
}
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
