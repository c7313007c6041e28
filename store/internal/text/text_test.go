package text

import (
	"slices"
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

func TestAMR(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"nil", nil, nil},
		{"empty", []string{}, nil},
		{"the engine's methods", []string{valet.AMRPassword, valet.AMROTP, valet.AMRMulti}, []string{"pwd", "otp", "mfa"}},
		{"every allowed byte", []string{"az09_-"}, []string{"az09_-"}},
		{"exactly the bound", []string{strings.Repeat("a", MaxAMRMethod)}, []string{strings.Repeat("a", MaxAMRMethod)}},
		{"too long", []string{strings.Repeat("a", MaxAMRMethod+1), "pwd"}, []string{"pwd"}},
		{"empty method", []string{"", "pwd"}, []string{"pwd"}},
		{"upper case", []string{"PWD", "pwd"}, []string{"pwd"}},
		{"comma", []string{"pwd,otp"}, nil},
		{"space, NUL and non-ASCII", []string{"p d", "pwd\x00", "pwé", "otp"}, []string{"otp"}},
		{"more than the bound", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
		{"dropped ones do not count", []string{"A", "a", "B", "b", "c", "d", "e", "f", "g", "h", "i"}, []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got := AMR(in)
			if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("AMR(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			if len(got) > 0 && len(in) > 0 && &got[0] == &in[0] {
				t.Errorf("AMR(%q) shares its caller's slice", tc.in)
			}
			if back := SplitAMR(JoinAMR(got)); !slices.Equal(back, got) || (back == nil) != (got == nil) {
				t.Errorf("SplitAMR(JoinAMR(%q)) = %#v", got, back)
			}
		})
	}
}

func TestSessionAMR(t *testing.T) {
	in := valet.Session{AMR: []string{"pwd", "Bad", "otp"}}
	got := Session(in)
	if want := []string{"pwd", "otp"}; !slices.Equal(got.AMR, want) {
		t.Errorf("AMR = %q, want %q", got.AMR, want)
	}
	if !slices.Equal(in.AMR, []string{"pwd", "Bad", "otp"}) {
		t.Errorf("Session changed its argument's AMR to %q", in.AMR)
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
