package smtp

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/valetauth/valet"
)

// URL is where and how to reach an SMTP server, parsed from a URL such as
// smtp://user:password@mail.example.com:587. Its String never shows the
// password.
type URL struct {
	// ImplicitTLS is true for smtps://, which speaks TLS from the first
	// byte (port 465 by default). smtp:// (port 587 by default) requires
	// STARTTLS instead.
	ImplicitTLS bool
	// Host is the server's name or IP address, which its certificate must
	// be valid for.
	Host string
	// Port is the server's port.
	Port int
	// Username is the user to authenticate as; empty sends no AUTH.
	Username string
	// password is unexported, and URL prints itself redacted, so that
	// printing a URL (%v, %+v, %#v) cannot show it.
	password string
	// Insecure (?insecure) lets a server that offers no STARTTLS, or whose
	// certificate cannot be verified, have the mail and the password. It
	// is for test servers only.
	Insecure bool
}

// maxURL bounds what ParseURL reads.
const maxURL = 2048

// ParseURL parses an SMTP URL: smtp://[user:password@]host[:port] (STARTTLS
// required; port 587 by default) or smtps://[user:password@]host[:port]
// (implicit TLS; port 465 by default), with ?insecure as its only setting.
// Characters of the password that a URL reserves (@ : / ? #) are written
// percent-encoded. It returns an error wrapping valet.ErrInvalidRequest,
// whose sentence (valet.Message) says what is wrong and never includes the
// password, for: an empty or overlong URL; a line break, NUL or other
// control character anywhere, also percent-encoded in the user name or
// password; another scheme; no host; a port that is not 1 to 65535; a user
// name without a password, or a password without a user name; a path or a
// fragment; a setting other than a bare ?insecure.
func ParseURL(s string) (*URL, error) {
	switch {
	case s == "":
		return nil, bad("The SMTP URL is empty; write it as smtp://user:password@host:587.")
	case len(s) > maxURL:
		return nil, bad("The SMTP URL is longer than %d bytes.", maxURL)
	case hasControl(s):
		return nil, bad("The SMTP URL contains a line break or another control character.")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url's errors quote the whole URL, password and all.
		return nil, bad("The SMTP URL cannot be parsed; write it as smtp://user:password@host:587, with @, :, / and ? in the password percent-encoded.")
	}
	out := &URL{}
	if u.Opaque != "" && strings.Trim(u.Opaque, "0123456789") == "" {
		// host:port parses as a scheme and a path.
		u.Scheme = ""
	}
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		out.Port = 587
	case "smtps":
		out.ImplicitTLS, out.Port = true, 465
	case "":
		return nil, bad("The SMTP URL has no scheme; write it as smtp://host:587 (STARTTLS) or smtps://host:465 (implicit TLS).")
	default:
		return nil, bad("The SMTP URL's scheme %s is not smtp or smtps; write smtp://host:587 (STARTTLS) or smtps://host:465 (implicit TLS).", strconv.Quote(u.Scheme))
	}
	if u.Opaque != "" {
		return nil, bad("The SMTP URL must start with %s:// and then the host, as in %s://host:%d.", u.Scheme, u.Scheme, out.Port)
	}
	out.Host = u.Hostname()
	if out.Host == "" {
		return nil, bad("The SMTP URL names no host; write it as %s://user:password@host:%d.", u.Scheme, out.Port)
	}
	if hasControl(out.Host) || strings.ContainsAny(out.Host, " /\\@") {
		return nil, bad("The SMTP URL's host %s is not a host name or an IP address.", strconv.Quote(out.Host))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, bad("The SMTP URL's port %s is not a number from 1 to 65535.", strconv.Quote(p))
		}
		out.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, bad("The SMTP URL's port is empty; leave out the colon or give a port from 1 to 65535.")
	}
	if u.User != nil {
		user := u.User.Username()
		pass, hasPass := u.User.Password()
		switch {
		case hasControl(user) || hasControl(pass):
			return nil, bad("The SMTP URL's user name or password contains a line break or another control character.")
		case user == "" && pass != "":
			return nil, bad("The SMTP URL has a password but no user name; write it as %s://user:password@%s.", u.Scheme, out.Host)
		case user == "":
			return nil, bad("The SMTP URL has an @ but no user name before it; write %s://user:password@%s, or leave out the @.", u.Scheme, out.Host)
		case !hasPass || pass == "":
			return nil, bad("The SMTP URL has the user name %s but no password; write it as %s://user:password@%s.", strconv.Quote(user), u.Scheme, out.Host)
		}
		out.Username, out.password = user, pass
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("The SMTP URL has a path (%s), which it takes none of.", strconv.Quote(u.Path))
	}
	if u.Fragment != "" || strings.HasSuffix(s, "#") {
		return nil, bad("The SMTP URL has a fragment (after #), which it takes none of; percent-encode a # in the password as %%23.")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return nil, bad("The SMTP URL's settings (after ?) cannot be parsed; the only one is ?insecure.")
		}
		for k, v := range q {
			switch {
			case k == "insecure" && len(v) == 1 && v[0] == "" && !strings.Contains(u.RawQuery, "insecure="):
				out.Insecure = true
			case k == "insecure":
				return nil, bad("The SMTP URL's setting insecure takes no value; write ?insecure alone.")
			case strings.EqualFold(k, "insecure") || strings.EqualFold(strings.NewReplacer("-", "", "_", "").Replace(k), "insecure"):
				return nil, bad("The SMTP URL's setting %s is unknown; did you mean ?insecure (lower case, alone)?", strconv.Quote(k))
			default:
				return nil, bad("The SMTP URL's setting %s is unknown; the only one is ?insecure, for test servers.", strconv.Quote(k))
			}
		}
	}
	return out, nil
}

// bad is an invalid URL, with the sentence that says why.
func bad(format string, args ...any) error {
	return valet.Errorf(valet.ErrInvalidRequest, format, args...)
}

func hasControl(s string) bool { return strings.ContainsFunc(s, unicode.IsControl) }

// Addr is the server's host and port, as net.Dial takes them.
func (u URL) Addr() string { return net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) }

// HasPassword reports whether the URL carries a password.
func (u URL) HasPassword() bool { return u.password != "" }

// GoString is String, so that %#v does not show the password either.
func (u URL) GoString() string { return u.String() }

// String returns the URL with its password replaced by ***, fit for logs
// and messages.
func (u URL) String() string {
	var b strings.Builder
	if u.ImplicitTLS {
		b.WriteString("smtps://")
	} else {
		b.WriteString("smtp://")
	}
	if u.Username != "" {
		b.WriteString(url.User(u.Username).String())
		b.WriteString(":***@")
	}
	b.WriteString(u.Addr())
	if u.Insecure {
		b.WriteString("?insecure")
	}
	return b.String()
}

// Redact returns s, an SMTP URL, with its password replaced by ***: the
// parsed URL's String when it parses, else s with everything between :// and
// the last @ hidden. It is for messages about a URL that may not parse.
func Redact(s string) string {
	if u, err := ParseURL(s); err == nil {
		return u.String()
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		if i := strings.Index(s, "://"); i >= 0 && i < at {
			return s[:i+3] + "***" + s[at:]
		}
		return "***" + s[at:]
	}
	return s
}
