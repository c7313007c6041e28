package password

import (
	"errors"
	"strings"
	"testing"

	"github.com/valetauth/valet"
)

func TestCheck(t *testing.T) {
	const (
		tooShort = "password must be at least 8 characters"
		tooLong  = "password must be at most 256 characters"
		common   = "this password is too common; choose another"
	)
	tests := []struct {
		name     string
		password string
		want     string // "" for no error
	}{
		{"empty", "", tooShort},
		{"7 characters", "xk3#pq9", tooShort},
		{"8 characters", "xk3#pq9z", ""},
		{"256 characters", strings.Repeat("xk3#pq9z", 32), ""},
		{"257 characters", strings.Repeat("xk3#pq9z", 32) + "a", tooLong},
		// 7 code points in 21 bytes: characters are counted, not bytes.
		{"7 CJK characters", "密码是秘密的东", tooShort},
		{"8 CJK characters", "密码是秘密的东西", ""},
		{"8 emoji", "🔑🔒🐉🌵🎲🧩🛸🪐", ""},
		{"256 emoji", strings.Repeat("🔑🔒🐉🌵🎲🧩🛸🪐", 32), ""},
		{"257 emoji", strings.Repeat("🔑🔒🐉🌵🎲🧩🛸🪐", 32) + "🔑", tooLong},
		{"spaces allowed", "correct horse battery staple", ""},
		{"all spaces allowed", "        ", ""},
		{"no composition rules", "abcdefghzq", ""},
		{"common: password", "password", common},
		{"common: 123456789", "123456789", common},
		{"common: qwertyuiop", "qwertyuiop", common},
		{"common: iloveyou", "iloveyou", common},
		{"common: 1qaz2wsx", "1qaz2wsx", common},
		{"common, upper case", "PASSWORD", common},
		{"common, mixed case", "QwertyUIOP", common},
		{"common, title case", "Iloveyou", common},
		{"common and short", "123456", tooShort},
		{"common with a suffix", "password!x", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.password)
			if tc.want == "" {
				if err != nil {
					t.Errorf("Check(%q) = %v, want nil", tc.password, err)
				}
				return
			}
			if !errors.Is(err, valet.ErrWeakPassword) {
				t.Fatalf("Check(%q) = %v, want an error wrapping valet.ErrWeakPassword", tc.password, err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("Check(%q) message = %q, want %q", tc.password, got, tc.want)
			}
		})
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
		{"", false},
		{" password", false},
		{"password ", false},
		{"v8#Lq2!rZx", false},
		{"correct horse battery staple", false},
		{strings.Repeat("password", 40), false},
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
	set := commonSet()
	if got, want := len(set), 30000; got != want {
		t.Errorf("list has %d entries, want %d", got, want)
	}
	if got, min := len(set), 10000; got < min {
		t.Errorf("list has %d entries, want at least %d", got, min)
	}
	for pw := range set {
		if pw != strings.ToLower(pw) || strings.TrimSpace(pw) != pw || strings.HasPrefix(pw, "#") {
			t.Errorf("entry %q is not lowercase, trimmed and unlike a header", pw)
		}
		if n := len([]rune(pw)); n > 64 {
			t.Errorf("entry %q has %d code points; IsCommon skips passwords of over 64", pw, n)
		}
	}
	header, _, _ := strings.Cut(commonList, "\n")
	for _, want := range []string{"zxcvbn", "MIT licence", "Dropbox"} {
		if !strings.Contains(header, want) {
			t.Errorf("header %q does not name %q", header, want)
		}
	}
	if _, ok := set[header]; ok {
		t.Errorf("the header is loaded as a password")
	}
	if first, _, _ := strings.Cut(strings.SplitN(commonList, "\n", 3)[1], "\n"); first != "123456" {
		t.Errorf("first entry = %q, want the most common password, %q", first, "123456")
	}
}
