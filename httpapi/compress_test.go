package httpapi

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{"gzip"}, true},
		{[]string{"gzip, deflate, br"}, true},
		{[]string{"br, GZIP"}, true},
		{[]string{"deflate", "gzip;q=0.5"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.000"}, false},
		{[]string{"gzip;q=bogus"}, false},
		{[]string{"*"}, true},
		{[]string{"*;q=0"}, false},
		{[]string{"identity"}, false},
		{[]string{"x-gzipped"}, false},
		{[]string{""}, false},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.header, "|"), func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tc.header {
				r.Header.Add("Accept-Encoding", v)
			}
			if got := acceptsGzip(r); got != tc.want {
				t.Fatalf("acceptsGzip = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCompress(t *testing.T) {
	big := strings.Repeat(`{"a":"json"}`, 200) // 2400 bytes
	tests := []struct {
		name       string
		accept     string
		method     string
		status     int
		header     map[string]string
		body       string
		credential bool // the handler calls noCompress
		wantGzip   bool
		wantVary   bool
	}{
		{name: "big JSON", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json"}, body: big, wantGzip: true, wantVary: true},
		{name: "big page", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "text/html; charset=utf-8", "Content-Length": strconv.Itoa(len(big))}, body: big, wantGzip: true, wantVary: true},
		{name: "big error", accept: "gzip", status: 404, header: map[string]string{"Content-Type": "application/json"}, body: big, wantGzip: true, wantVary: true},
		{name: "client does not accept gzip", accept: "", status: 200, header: map[string]string{"Content-Type": "application/json"}, body: big},
		{name: "client refuses gzip", accept: "gzip;q=0", status: 200, header: map[string]string{"Content-Type": "application/json"}, body: big},
		{name: "small body", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json"}, body: `{"status":"ok"}`, wantVary: true},
		{name: "small Content-Length", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json", "Content-Length": "15"}, body: `{"status":"ok"}`, wantVary: true},
		{name: "just under the bound", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "text/plain"}, body: strings.Repeat("a", minCompressBytes-1), wantVary: true},
		{name: "at the bound", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "text/plain"}, body: strings.Repeat("a", minCompressBytes), wantGzip: true, wantVary: true},
		{name: "already encoded", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "text/plain", "Content-Encoding": "br"}, body: big},
		{name: "sets a cookie", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json", "Set-Cookie": "valet_session=x"}, body: big},
		{name: "carries a credential", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json"}, body: big, credential: true},
		{name: "image", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "image/png"}, body: big},
		{name: "no content type", accept: "gzip", status: 200, body: big},
		{name: "svg", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "image/svg+xml"}, body: big, wantGzip: true, wantVary: true},
		{name: "HEAD", accept: "gzip", method: http.MethodHead, status: 200, header: map[string]string{"Content-Type": "application/json"}},
		{name: "no content", accept: "gzip", status: 204},
		{name: "a range", accept: "gzip", status: 206, header: map[string]string{"Content-Type": "text/plain", "Content-Range": "bytes 0-2399/5000"}, body: big},
		{name: "Vary kept", accept: "gzip", status: 200, header: map[string]string{"Content-Type": "application/json", "Vary": "Origin"}, body: big, wantGzip: true, wantVary: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				if tc.credential {
					noCompress(w)
				}
				w.WriteHeader(tc.status)
				// In pieces, as an encoder writes.
				for b := []byte(tc.body); len(b) > 0; {
					n := min(len(b), 100)
					_, _ = w.Write(b[:n])
					b = b[n:]
				}
			}))
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, "/", nil)
			if tc.accept != "" {
				r.Header.Set("Accept-Encoding", tc.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			res := rec.Result()
			if got, want := res.StatusCode, tc.status; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			gotGzip := res.Header.Get("Content-Encoding") == "gzip"
			if gotGzip != tc.wantGzip {
				t.Fatalf("gzip = %v, want %v; header %v", gotGzip, tc.wantGzip, res.Header)
			}
			gotVary := strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Accept-Encoding")
			if gotVary != tc.wantVary {
				t.Fatalf("Vary: Accept-Encoding = %v, want %v; header %v", gotVary, tc.wantVary, res.Header)
			}
			body := rec.Body.Bytes()
			if gotGzip {
				if cl := res.Header.Get("Content-Length"); cl != "" {
					t.Fatalf("compressed response keeps Content-Length %s", cl)
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
				if rec.Body.Len() >= len(tc.body) {
					t.Fatalf("compressed %d bytes into %d", len(tc.body), rec.Body.Len())
				}
			}
			if got, want := string(body), tc.body; got != want {
				t.Fatalf("body = %.40q… (%d bytes), want %.40q… (%d bytes)", got, len(got), want, len(want))
			}
		})
	}
}

// TestCompressReusesWriters: writers come back to their pools clean, so
// that one response never leaks into the next.
func TestCompressReusesWriters(t *testing.T) {
	h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat(r.URL.Query().Get("c"), 2000))
	}))
	for _, c := range []string{"a", "b", "c", "a"} {
		r := httptest.NewRequest(http.MethodGet, "/?c="+c, nil)
		r.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Repeat(c, 2000); string(got) != want {
			t.Fatalf("response %q: got %.20q…, want %.20q…", c, got, want)
		}
	}
}

// TestCompressFlush: a handler that flushes gets its bytes out compressed
// and in order.
func TestCompressFlush(t *testing.T) {
	h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "first ")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Error(err)
		}
		_, _ = io.WriteString(w, "second")
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if !rec.Flushed || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("flushed %v, Content-Encoding %q", rec.Flushed, rec.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if want := "first second"; string(got) != want {
		t.Fatalf("body %q, want %q", got, want)
	}
}

func BenchmarkCompress(b *testing.B) {
	page := []byte(strings.Repeat(`<tr><td>ada@example.com</td><td>admin</td></tr>`, 100))
	h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

// TestCompressWeakensETag: the compressed body is another representation,
// so a strong ETag becomes weak, and a weak one stays as it is.
func TestCompressWeakensETag(t *testing.T) {
	for _, tc := range []struct{ in, want string }{{`"v1"`, `W/"v1"`}, {`W/"v1"`, `W/"v1"`}} {
		h := Compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/css")
			w.Header().Set("ETag", tc.in)
			_, _ = io.WriteString(w, strings.Repeat("a{}", 1000))
		}))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if got := rec.Header().Get("ETag"); got != tc.want {
			t.Errorf("ETag %s: got %s, want %s", tc.in, got, tc.want)
		}
	}
}
