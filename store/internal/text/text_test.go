package text

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valetauth/valet"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"empty", "", 10, ""},
		{"clean and short", "Mozilla/5.0", 512, "Mozilla/5.0"},
		{"exactly the bound", "abcd", 4, "abcd"},
		{"ascii cut", "abcdef", 4, "abcd"},
		{"invalid byte", "a\xffb", 10, "a\uFFFDb"},
		{"run of invalid bytes is one replacement", "a\xff\xfe\xfdb", 10, "a\uFFFDb"},
		{"two runs", "\xffa\xff", 10, "\uFFFDa\uFFFD"},
		{"truncated multi-byte character", "ab\xe6\x97", 10, "ab\uFFFD"},
		{"surrogate half", "\xed\xa0\x80", 10, "\uFFFD"},
		{"overlong encoding", "\xc0\xaf", 10, "\uFFFD"},
		{"NUL dropped", "a\x00b\x00", 10, "ab"},
		{"only NULs", "\x00\x00", 10, ""},
		{"NUL between invalid runs", "\xff\x00\xfe", 10, "\uFFFD\uFFFD"},
		{"NUL does not join the halves of a character", "\xe6\x00\x97\xa5", 10, "\uFFFD\uFFFD"},
		{"cut before a character that does not fit", "ab日本", 7, "ab日"},
		{"cut one byte short of a character", "ab日本", 4, "ab"},
		{"replacement that does not fit", "ab\xff", 4, "ab"},
		{"valid U+FFFD kept", "\uFFFD\uFFFD", 10, "\uFFFD\uFFFD"},
		{"zero bound", "abc", 0, ""},
		{"negative bound", "abc", -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in, tc.max); got != tc.want {
				t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

func TestSession(t *testing.T) {
	in := valet.Session{
		ID:        "id\x00",
		UserAgent: strings.Repeat("日", 200),
		IP:        "203.0.113.7\xff" + strings.Repeat("9", 100),
	}
	got := Session(in)
	if got.ID != in.ID {
		t.Errorf("ID = %q, want it unchanged", got.ID)
	}
	if want := strings.Repeat("日", MaxUserAgent/3); got.UserAgent != want {
		t.Errorf("UserAgent has %d bytes, want %d", len(got.UserAgent), len(want))
	}
	if want := ("203.0.113.7\uFFFD" + strings.Repeat("9", 100))[:MaxIP]; got.IP != want {
		t.Errorf("IP = %q, want %q", got.IP, want)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "Mozilla/5.0", "a\xffb\x00c", "日本語\xe6\x97", strings.Repeat("é", 300)} {
		f.Add(s, 512)
		f.Add(s, 5)
	}
	f.Fuzz(func(t *testing.T, s string, bound int) {
		bound %= 1024
		got := Clean(s, bound)
		if !utf8.ValidString(got) {
			t.Fatalf("Clean(%q, %d) = %q, not valid UTF-8", s, bound, got)
		}
		if strings.IndexByte(got, 0) >= 0 {
			t.Fatalf("Clean(%q, %d) = %q holds a NUL", s, bound, got)
		}
		if len(got) > max(bound, 0) {
			t.Fatalf("Clean(%q, %d) has %d bytes", s, bound, len(got))
		}
		// What Clean keeps is the longest prefix, at a character boundary,
		// of the whole cleaned text that fits.
		full := strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
		if !strings.HasPrefix(full, got) {
			t.Fatalf("Clean(%q, %d) = %q, not a prefix of %q", s, bound, got, full)
		}
		if rest := full[len(got):]; rest != "" {
			_, size := utf8.DecodeRuneInString(rest)
			if len(got)+size <= bound {
				t.Fatalf("Clean(%q, %d) = %q stops short of the bound", s, bound, got)
			}
		}
		if Clean(got, bound) != got {
			t.Fatalf("Clean is not idempotent on %q", got)
		}
	})
}
