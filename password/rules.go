package password

import (
	_ "embed"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/valetauth/valet"
)

// The length bounds of Check, in Unicode code points.
const (
	// MinLength is the least number of characters a password may have.
	MinLength = 8
	// MaxLength is the most characters a password may have. It is generous,
	// so that passphrases fit, and bounded, so that hashing stays cheap.
	MaxLength = 256
)

// commonList is one password a line, lowercased, most common first, after
// header lines that start with '#'.
//
//go:embed common-passwords.txt
var commonList string

// commonSet is built on first use so that programs that never check a
// password do not pay for it. Its keys share the embedded string's memory.
var commonSet = sync.OnceValue(func() map[string]struct{} {
	rest := commonList
	for strings.HasPrefix(rest, "#") {
		_, rest, _ = strings.Cut(rest, "\n")
	}
	set := make(map[string]struct{}, strings.Count(rest, "\n")+1)
	for line := range strings.Lines(rest) {
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			set[line] = struct{}{}
		}
	}
	return set
})

// weakError is a broken password rule. Its message is a sentence meant for
// the user; it wraps valet.ErrWeakPassword.
type weakError string

func (e weakError) Error() string { return string(e) }
func (e weakError) Unwrap() error { return valet.ErrWeakPassword }

// Check applies the password rules, after NIST SP 800-63B: at least
// MinLength (8) and at most MaxLength (256) characters, counted as Unicode
// code points, with any characters allowed and no composition rules; and not
// one of the 30,000 most common passwords (see IsCommon). It returns nil for
// an acceptable password, or an error wrapping valet.ErrWeakPassword whose
// message is a sentence to show the user, such as "password must be at least
// 8 characters".
func Check(password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinLength:
		return weakError("password must be at least 8 characters")
	case n > MaxLength:
		return weakError("password must be at most 256 characters")
	case IsCommon(password):
		return weakError("this password is too common; choose another")
	}
	return nil
}

// IsCommon reports whether password, ignoring case, is one of the 30,000
// most common passwords of zxcvbn's list (drawn from a public corpus of 10
// million leaked passwords), which ships inside the binary. It is false for
// any other password.
func IsCommon(password string) bool {
	// No entry has more than 64 code points, and lowercasing keeps the
	// count of code points, each at most 4 bytes: skip lowercasing a long
	// passphrase that cannot match.
	if len(password) > 4*64 {
		return false
	}
	_, ok := commonSet()[strings.ToLower(password)]
	return ok
}
