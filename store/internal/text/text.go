// Package text makes text that clients send fit to be stored by every
// backend: valid UTF-8, no NUL bytes (PostgreSQL's text refuses both), and
// no longer than the bound the backends agree on. It bounds a session's
// authentication methods the same way, and says how the backends that keep
// them in one string join them.
package text

import (
	"strings"
	"unicode/utf8"

	"github.com/valetauth/valet"
)

// The bounds, in bytes, of the client text that a session records. They are
// the ones session.Manager cuts at, so that a value that came through it is
// stored unchanged.
const (
	// MaxUserAgent bounds Session.UserAgent.
	MaxUserAgent = 512
	// MaxIP bounds Session.IP.
	MaxIP = 64
)

// The bounds of Session.AMR. The engine names methods by short tokens
// (valet.AMRPassword, ...), so these leave room and no more.
const (
	// MaxAMR is the most methods a session records.
	MaxAMR = 8
	// MaxAMRMethod bounds one method's name, in bytes.
	MaxAMRMethod = 16
)

// Session returns s with the client text it records, UserAgent and IP,
// cleaned to their bounds, and its AMR bounded as AMR says. Every backend's
// CreateSession stores what it returns.
func Session(s valet.Session) valet.Session {
	s.UserAgent = Clean(s.UserAgent, MaxUserAgent)
	s.IP = Clean(s.IP, MaxIP)
	s.AMR = AMR(s.AMR)
	return s
}

// AMR returns the methods of amr that are 1 to MaxAMRMethod bytes of a-z,
// 0-9, _ and -, in order, and at most MaxAMR of them; it drops the others.
// The result is a new slice, or nil when none is left, so that a store may
// keep it without sharing it with the caller.
func AMR(amr []string) []string {
	var out []string
	for _, m := range amr {
		if len(out) == MaxAMR {
			break
		}
		if method(m) {
			out = append(out, m)
		}
	}
	return out
}

// method reports whether m may name an authentication method. Its letters
// exclude the comma, which JoinAMR puts between methods.
func method(m string) bool {
	if m == "" || len(m) > MaxAMRMethod {
		return false
	}
	for i := 0; i < len(m); i++ {
		switch c := m[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// JoinAMR returns the methods of amr, which AMR has bounded, as one string,
// separated by commas; "" for none. SplitAMR is its inverse.
func JoinAMR(amr []string) string { return strings.Join(amr, ",") }

// SplitAMR returns the methods that JoinAMR joined into s, or nil when s is
// empty.
func SplitAMR(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Clean returns s as valid UTF-8 of at most maxBytes bytes: each run of
// invalid bytes becomes one U+FFFD (as strings.ToValidUTF8 does), then NUL
// bytes are dropped, and the result is cut after the last whole character
// that fits. Clean of an already clean s
// returns s itself; with maxBytes of 0 or less it returns "".
func Clean(s string, maxBytes int) string {
	if len(s) <= maxBytes && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	if maxBytes <= 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(min(len(s), maxBytes))
	invalid := false // the last thing written is the U+FFFD of a run of invalid bytes
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			if invalid {
				continue
			}
			invalid = true
		case r == 0:
			// A NUL ends a run of invalid bytes, as any character does, and
			// then is dropped.
			invalid = false
			continue
		default:
			invalid = false
		}
		if b.Len()+utf8.RuneLen(r) > maxBytes {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
