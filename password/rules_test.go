package password

import (
	"bufio"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/valetauth/valet"
)

// The sentences of Policy.Check.
const (
	tooShort   = "Use at least 8 characters."
	tooLong    = "Use at most 256 characters."
	sameAsNow  = "Choose a password different from your current one."
	fromEmail  = "Choose a password that is not based on your email address."
	fromSite   = "Choose a password that is not based on the name of this site."
	repeated   = "Avoid repeated characters and patterns, such as aaaa or abab."
	sequence   = "Avoid sequences of characters, such as abcd, 1234 or qwerty."
	tooCommon  = "This password is too common; choose another."
	acceptable = ""
)

func TestPolicyCheck(t *testing.T) {
	ctx := Context{Email: "Jane.Doe-Smith@example.com", SiteName: "Acme Books", Current: "the current passphrase"}
	tests := []struct {
		name     string
		policy   Policy
		password string
		c        Context
		want     string
	}{
		// Length, in code points after normalization.
		{"empty", Policy{}, "", Context{}, tooShort},
		{"7 characters", Policy{}, "xk3#pq9", Context{}, tooShort},
		{"8 characters", Policy{}, "xk3#pq9z", Context{}, acceptable},
		{"7 CJK characters", Policy{}, "密码是秘密的东", Context{}, tooShort},
		{"8 CJK characters", Policy{}, "密码是秘密的东西", Context{}, acceptable},
		{"8 emoji", Policy{}, "🔑🔒🐉🌵🎲🧩🛸🪐", Context{}, acceptable},
		{"256 characters", Policy{}, strings.Repeat("xk3#pq9z", 32), Context{}, acceptable},
		{"257 characters", Policy{}, strings.Repeat("xk3#pq9z", 32) + "a", Context{}, tooLong},
		{"257 emoji", Policy{}, strings.Repeat("🔑🔒🐉🌵🎲🧩🛸🪐", 32) + "🔑", Context{}, tooLong},
		{"a megabyte", Policy{}, strings.Repeat("x", 1<<20), Context{}, tooLong},
		// 86 code points that NFKC expands to 324 (ﷺ is 18 letters).
		{"short, long once normalized", Policy{}, strings.Repeat("x", 72) + strings.Repeat("ﷺ", 14), Context{}, tooLong},
		// 8 code points as typed, 7 once e and its accent are composed.
		{"short once normalized", Policy{}, "xk3#pqe\u0301", Context{}, tooShort},
		{"custom minimum", Policy{MinLength: 15}, "xk3#pq9z-Lm2", Context{}, "Use at least 15 characters."},
		{"custom maximum", Policy{MaxLength: 10}, "xk3#pq9z-Lm2", Context{}, "Use at most 10 characters."},

		// Reuse.
		{"same as current", Policy{}, "the current passphrase", ctx, sameAsNow},
		{"current, other normal form", Policy{}, "ｔhe current passphrase", ctx, sameAsNow},
		{"current, other case", Policy{}, "The current passphrase", ctx, acceptable},

		// Context-specific words.
		{"own email", Policy{}, "jane.doe-smith@example.com", ctx, fromEmail},
		{"own email, other case", Policy{}, "Jane.Doe-Smith@Example.com", ctx, fromEmail},
		{"email and digits", Policy{}, "jane.doe-smith@example.com2024", ctx, fromEmail},
		{"local part", Policy{}, "jane.doe-smith!", ctx, fromEmail},
		{"words of the local part", Policy{}, "SmithJane1990", ctx, fromEmail},
		{"local part in a long passphrase", Policy{}, "jane keeps her garden tidy", ctx, acceptable},
		{"valet", Policy{}, "valet2024!", Context{}, fromSite},
		{"valet twice", Policy{}, "ValetValet", Context{}, fromSite},
		{"valet in a passphrase", Policy{}, "my valet parks my blue car", Context{}, acceptable},
		{"site name", Policy{}, "acmebooks123", ctx, fromSite},
		{"a word of the site name", Policy{}, "Books!Books!", ctx, fromSite},
		{"policy word", Policy{Words: []string{"Tarantula"}}, "tarantula#1", Context{}, fromSite},
		{"short policy word ignored", Policy{Words: []string{"ab"}}, "ab-xk3#pq9z", Context{}, acceptable},

		// Repetition and sequences.
		{"one character", Policy{}, "aaaaaaaaaaaa", Context{}, repeated},
		{"spaces", Policy{}, "        ", Context{}, repeated},
		{"two characters", Policy{}, "abababab", Context{}, repeated},
		{"digits twice", Policy{}, "12121212", Context{}, repeated},
		{"three characters, odd end", Policy{}, "xyzxyzxyzx", Context{}, repeated},
		{"runs of repeats", Policy{}, "aaaabbbbcccc", Context{}, repeated},
		{"a repeat and two more", Policy{}, "zzzzzzzz9!", Context{}, repeated},
		{"alphabet", Policy{}, "abcdefgh", Context{}, sequence},
		{"alphabet, upper case", Policy{}, "ABCDEFGHIJ", Context{}, sequence},
		{"digits", Policy{}, "12345678", Context{}, sequence},
		{"digits down", Policy{}, "9876543210", Context{}, sequence},
		{"keyboard row", Policy{}, "qwertyui", Context{}, sequence},
		{"keyboard row backwards", Policy{}, "lkjhgfdsa", Context{}, sequence},
		{"azerty row", Policy{}, "azertyuiop", Context{}, sequence},
		{"two sequences", Policy{}, "abcd4321", Context{}, sequence},
		{"alphabet and two more", Policy{}, "abcdefghzq", Context{}, sequence},
		{"alphabet and four more", Policy{}, "abcdefghzqmw", Context{}, acceptable},
		{"a unit of 8 repeated", Policy{}, "xk3#pq9zxk3#pq9z", Context{}, acceptable},
		{"repeated passphrase", Policy{}, "correcthorsecorrecthorse", Context{}, acceptable},

		// Common and breached.
		{"letmein123", Policy{}, "letmein123", Context{}, tooCommon},
		{"password", Policy{}, "password", Context{}, tooCommon},
		{"upper case", Policy{}, "PASSWORD1", Context{}, tooCommon},
		{"iloveyou", Policy{}, "Iloveyou", Context{}, tooCommon},
		{"trustno1", Policy{}, "trustno1", Context{}, tooCommon},
		{"football", Policy{}, "football", Context{}, tooCommon},
		{"full-width letters", Policy{}, "ｐａｓｓｗｏｒｄ", Context{}, tooCommon},
		{"1qaz2wsx", Policy{}, "1qaz2wsx", Context{}, tooCommon},
		{"common and short", Policy{}, "123456", Context{}, tooShort},

		// Good passwords, of any characters and without composition rules.
		{"passphrase", Policy{}, "correct horse battery staple", ctx, acceptable},
		{"lower case only", Policy{}, "zqmvtlkrwp", Context{}, acceptable},
		{"random", Policy{}, "v8#Lq2!rZx", ctx, acceptable},
		{"unicode passphrase", Policy{}, "pässwörd ✓ für alle", ctx, acceptable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(tc.password, tc.c)
			if tc.want == acceptable {
				if err != nil {
					t.Errorf("Check(%q) = %v, want nil", tc.password, err)
				}
				return
			}
			if !errors.Is(err, valet.ErrWeakPassword) {
				t.Fatalf("Check(%q) = %v, want an error of kind valet.ErrWeakPassword", tc.password, err)
			}
			if got, want := valet.Message(err), tc.want; got != want {
				t.Errorf("Check(%q) message = %q, want %q", tc.password, got, want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		password string
		want     string
	}{
		{"hunter2", tooShort},
		{"Qwertyuiop", sequence},
		{"letmein123", tooCommon},
		{"aaaaaaaaaaaa", repeated},
		{"abcdefgh", sequence},
		{"valetvalet", fromSite},
		{"correct horse battery staple", acceptable},
	}
	for _, tc := range tests {
		err := Check(tc.password)
		got := ""
		if err != nil {
			got = valet.Message(err)
		}
		if got != tc.want {
			t.Errorf("Check(%q) = %q, want %q", tc.password, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"password", "password"},
		{"cafe\u0301", "caf\u00e9"},
		{"ｐａｓｓ", "pass"},
		{"ﬁre", "fire"},
		{"Ⅻ", "XII"},
		{"\u00a0x", " x"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIsCommon(t *testing.T) {
	tests := []struct {
		password string
		want     bool
	}{
		{"123456", true},
		{"password", true},
		{"Password", true},
		{"PASSWORD", true},
		{"123456789", true},
		{"qwertyuiop", true},
		{"QWERTYUIOP", true},
		{"dragon", true},
		{"trustno1", true},
		{"TrustNo1", true},
		{"letmein123", true},
		{"ｐａｓｓｗｏｒｄ", true},
		{"", false},
		{" password", false},
		{"password ", false},
		{"v8#Lq2!rZx", false},
		{"correct horse battery staple", false},
		{strings.Repeat("password", 40), false},
		{strings.Repeat("é", 2000), false},
	}
	for _, tc := range tests {
		t.Run(tc.password, func(t *testing.T) {
			if got := IsCommon(tc.password); got != tc.want {
				t.Errorf("IsCommon(%q) = %v, want %v", tc.password, got, tc.want)
			}
		})
	}
}

func TestCommonList(t *testing.T) {
	if got, want := commonPasswords().Len(), 414812; got != want {
		t.Errorf("commonPasswords().Len() = %d, want %d", got, want)
	}
	if got, max := len(commonFilter), 4<<20; got > max {
		t.Errorf("the embedded filter is %d bytes, want at most %d", got, max)
	}
	t.Logf("%d passwords in %d bytes (%.1f bits each)", commonPasswords().Len(), len(commonFilter), float64(8*len(commonFilter))/float64(commonPasswords().Len()))
}

// TestCommonSample checks the filter against the sample of its entries that
// the generator wrote beside it.
func TestCommonSample(t *testing.T) {
	f, err := os.Open("testdata/common-sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line; entries may start with '#' too
	n := 0
	for sc.Scan() {
		pw := sc.Text()
		n++
		if !IsCommon(pw) {
			t.Errorf("IsCommon(%q) = false for an entry of the list", pw)
		}
		// Case folds back only for ASCII: ToLower(ToUpper("ı")) is "i".
		if isASCII(pw) && !IsCommon(strings.ToUpper(pw)) {
			t.Errorf("IsCommon(%q) = false for an entry of the list in upper case", strings.ToUpper(pw))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := n, commonPasswords().Len()/250; got < want {
		t.Errorf("sample has %d entries, want at least %d", got, want)
	}
}

// TestCommonFalsePositiveRate measures how often IsCommon is true for
// random strings of 12 letters and digits, none of which is on the list
// (62^12 of them against 414,812 entries, few of that shape).
func TestCommonFalsePositiveRate(t *testing.T) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	probes := 1_000_000
	if testing.Short() {
		probes = 100_000
	}
	r := rand.New(rand.NewPCG(2024, 11))
	b := make([]byte, 12)
	hits := 0
	for range probes {
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if IsCommon(string(b)) {
			hits++
		}
	}
	rate := float64(hits) / float64(probes)
	t.Logf("false positives: %d of %d random strings, %.4f%% (2^-16 = 0.0015%%)", hits, probes, 100*rate)
	if rate > 1e-4 {
		t.Errorf("false-positive rate %.6f, want under 0.0001", rate)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
