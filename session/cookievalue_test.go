package session

import (
	"net/http"
	"strings"
	"testing"
)

// cookieLines is the attack table for the Cookie header: every shape a
// client can send, each read by cookieValue and by net/http's r.Cookie,
// which must agree.
var cookieLines = [][]string{
	nil,
	{""},
	{"valet_session=abc"},
	{"valet_session="},
	{"valet_session"},
	{"=abc"},
	{"a=1; valet_session=abc; b=2"},
	{"valet_session=first; valet_session=second"},
	{"valet_session=bad\\value; valet_session=good"},
	{`valet_session="quoted"`},
	{`valet_session="`},
	{`valet_session=""`},
	{`valet_session="half`},
	{`valet_session=in"side`},
	{"valet_session=a b"},
	{"valet_session= lead"},
	{"valet_session=trail "},
	{"  valet_session  =  spaced  "},
	{"\tvalet_session=tab\t"},
	{"valet_session=a=b=c"},
	{"valet_session=\x7f"},
	{"valet_session=\x00"},
	{"valet_session=caf\xc3\xa9"},
	{"VALET_SESSION=upper"},
	{"valet_sessionx=longer"},
	{"xvalet_session=longer"},
	{"valet session=space"},
	{";;;valet_session=semis;;;"},
	{"a=1;valet_session=nospace"},
	{"a=1", "valet_session=second line"},
	{"valet_session=bad;", "valet_session=second line"},
	{"valet_session=\\", "a=1"},
	{"__Host-valet_session=host; valet_session=plain"},
	{strings.Repeat("a=1;", 2999) + "valet_session=within"},
	{strings.Repeat("a=1;", 3000) + "valet_session=over"},
	{strings.Repeat("a=1;", 1500), strings.Repeat("a=1;", 1499) + "valet_session=over on two lines"},
}

func TestCookieValueIsNetHTTPs(t *testing.T) {
	for _, lines := range cookieLines {
		for _, name := range []string{BaseName, "__Host-" + BaseName} {
			r := &http.Request{Header: http.Header{}}
			if lines != nil {
				r.Header["Cookie"] = lines
			}
			want, wantOK := "", false
			if k, err := r.Cookie(name); err == nil {
				want, wantOK = k.Value, true
			}
			got, ok := cookieValue(r.Header, name)
			if got != want || ok != wantOK {
				t.Errorf("Cookie %.60q, name %s: cookieValue = %q, %v; r.Cookie = %q, %v", lines, name, got, ok, want, wantOK)
			}
			if v := Value(r, name); v != want {
				t.Errorf("Cookie %.60q, name %s: Value = %q, want %q", lines, name, v, want)
			}
		}
	}
}

func FuzzCookieValue(f *testing.F) {
	for _, lines := range cookieLines {
		if len(lines) == 1 && len(lines[0]) < 200 {
			f.Add(lines[0], "")
		}
	}
	f.Add("valet_session=a", "valet_session=b")
	f.Fuzz(func(t *testing.T, line, second string) {
		r := &http.Request{Header: http.Header{"Cookie": {line, second}}}
		want, wantOK := "", false
		if k, err := r.Cookie(BaseName); err == nil {
			want, wantOK = k.Value, true
		}
		if got, ok := cookieValue(r.Header, BaseName); got != want || ok != wantOK {
			t.Fatalf("Cookie %q %q: cookieValue = %q, %v; r.Cookie = %q, %v", line, second, got, ok, want, wantOK)
		}
	})
}

func BenchmarkSessionValue(b *testing.B) {
	r := &http.Request{Header: http.Header{"Cookie": {"theme=dark; __Host-valet_session=" + strings.Repeat("x", CookieLen)}}}
	var c Cookie
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.SessionValue(r); !ok {
			b.Fatal("no cookie")
		}
	}
}

// TestCookieLimit: the table holds a request just within net/http's limit
// on cookies, whose cookie is read, and ones just over it, whose are not.
func TestCookieLimit(t *testing.T) {
	var within, over int
	for _, lines := range cookieLines {
		n := 0
		for _, l := range lines {
			n += strings.Count(l, ";") + 1
		}
		r := &http.Request{Header: http.Header{"Cookie": lines}}
		_, ok := cookieValue(r.Header, BaseName)
		switch {
		case n == maxCookies && ok:
			within++
		case n > maxCookies && !ok:
			over++
		}
	}
	if within != 1 || over != 2 {
		t.Fatalf("%d requests at the limit read, %d over it refused; want 1 and 2", within, over)
	}
}
