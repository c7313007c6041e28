// Package text makes text that clients send fit to be stored by every
// backend: valid UTF-8, no NUL bytes (PostgreSQL's text refuses both), and
// no longer than the bound the backends agree on.
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

// Session returns s with the client text it records, UserAgent and IP,
// cleaned to their bounds. Every backend's CreateSession stores what it
// returns.
func Session(s valet.Session) valet.Session {
	s.UserAgent = Clean(s.UserAgent, MaxUserAgent)
	s.IP = Clean(s.IP, MaxIP)
	return s
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
