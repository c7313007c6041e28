package httpapi

import (
	"bufio"
	"compress/gzip"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// minCompressBytes is the smallest body worth compressing: below about
// 1 KiB, gzip's header and trailer and the CPU cost outweigh the bytes
// saved.
const minCompressBytes = 1024

// Compress returns next with its responses gzip-compressed for clients that
// send Accept-Encoding: gzip, by the rule of the API's own responses:
//
//   - only bodies of 1 KiB or more, of a textual type (text/*, JSON,
//     JavaScript, SVG), and not to HEAD, with a 1xx, 204, 206 or 304 status,
//     or with a Content-Range;
//   - never a response that already has a Content-Encoding;
//   - never a response that sets a cookie, or that a handler of this package
//     marked as carrying a credential (the answers of login and refresh, which
//     hold tokens).
//
// The last rule is against BREACH: when a compressed response holds both a
// secret and text the attacker chose (an email in a login answer, a query
// parameter reflected in a page), its length tells the attacker how well a
// guess of the secret compresses against the secret, and so the secret, one
// character at a time. A response that hands out a credential is the one
// whose secret is worth that; responses without a credential (a user, a
// session list, a page) may be compressed, since what they reflect is no
// secret from the attacker who chose it. Session ids in responses are hashes
// of the cookie's secret, not the secret. Every response that it may
// compress carries Vary: Accept-Encoding, and a strong ETag of a compressed
// one becomes weak.
func Compress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !acceptsGzip(r) || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		rw := newResponseWriter(w, true)
		next.ServeHTTP(rw, r)
		rw.finish()
		rw.release()
	})
}

// noCompress marks the response that w writes as one that carries a
// credential, which Compress must not compress.
func noCompress(w http.ResponseWriter) {
	for {
		switch x := w.(type) {
		case *responseWriter:
			x.noGzip = true
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

// acceptsGzip reports whether r's Accept-Encoding lets gzip through: gzip
// or * with a q-value above 0.
func acceptsGzip(r *http.Request) bool {
	// The canonical key read directly: Header.Get would canonicalize it on
	// every request.
	for _, v := range r.Header["Accept-Encoding"] {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(part, ";")
			name = strings.TrimSpace(name)
			if !strings.EqualFold(name, "gzip") && name != "*" {
				continue
			}
			if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// compressible reports whether a body of Content-Type ct is text that gzip
// shrinks. Images, archives and fonts are compressed already.
func compressible(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case mt == "application/json", mt == "application/javascript", mt == "image/svg+xml",
		strings.HasSuffix(mt, "+json"):
		return true
	}
	return false
}

var gzipWriters = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return gz
}}

var responseWriters = sync.Pool{New: func() any { return new(responseWriter) }}

// The states of a responseWriter's body.
const (
	bodyUndecided = iota // WriteHeader not called yet
	bodyPlain            // passed through as it is
	bodyBuffered         // held back until it is known to be big enough
	bodyGzip             // compressed
)

// responseWriter remembers the status of a response, for metrics, and
// compresses its body when it may (see Compress).
type responseWriter struct {
	http.ResponseWriter
	status int
	// gzipOK: the client accepts gzip and the request is not HEAD.
	gzipOK bool
	// noGzip: a handler marked the response as carrying a credential.
	noGzip bool
	state  uint8
	buf    []byte
	gz     *gzip.Writer
}

var varyAcceptEncoding = []string{"Accept-Encoding"}

func newResponseWriter(w http.ResponseWriter, gzipOK bool) *responseWriter {
	rw := responseWriters.Get().(*responseWriter)
	rw.ResponseWriter, rw.gzipOK = w, gzipOK
	return rw
}

// release returns rw to the pool; it must not be used afterwards.
func (rw *responseWriter) release() {
	buf := rw.buf[:0]
	*rw = responseWriter{buf: buf}
	responseWriters.Put(rw)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// code returns the status sent, 200 when the handler wrote nothing.
func (rw *responseWriter) code() int {
	if rw.status == 0 {
		return http.StatusOK
	}
	return rw.status
}

func (rw *responseWriter) WriteHeader(code int) {
	if rw.status != 0 {
		return // a second call, which net/http would only log
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An informational answer (103 Early Hints) goes out at once and
		// the real one follows.
		rw.ResponseWriter.WriteHeader(code)
		return
	}
	rw.status = code
	if !rw.gzipOK || !rw.mayCompress() {
		rw.state = bodyPlain
		rw.ResponseWriter.WriteHeader(code)
		return
	}
	h := rw.Header()
	if _, ok := h["Vary"]; !ok {
		h["Vary"] = varyAcceptEncoding
	} else if !strings.Contains(strings.Join(h["Vary"], ","), "Accept-Encoding") {
		h.Add("Vary", "Accept-Encoding")
	}
	if cl := h["Content-Length"]; len(cl) > 0 && small(cl[0]) {
		rw.state = bodyPlain
		rw.ResponseWriter.WriteHeader(code)
		return
	}
	rw.state = bodyBuffered
}

// small reports whether a Content-Length is below minCompressBytes.
func small(cl string) bool {
	n, err := strconv.Atoi(cl)
	return err == nil && n < minCompressBytes
}

// mayCompress applies the rule of Compress to the response's status and
// headers.
func (rw *responseWriter) mayCompress() bool {
	h := rw.Header()
	switch {
	case rw.noGzip, rw.status == http.StatusNoContent, rw.status == http.StatusNotModified,
		rw.status == http.StatusSwitchingProtocols, rw.status == http.StatusPartialContent:
		return false
	case len(h["Content-Encoding"]) > 0, len(h["Set-Cookie"]) > 0, len(h["Content-Range"]) > 0:
		// A range is of the bytes as they are: compressing it would
		// answer another range.
		return false
	}
	return compressible(h.Get("Content-Type"))
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	switch rw.state {
	case bodyBuffered:
		rw.buf = append(rw.buf, p...)
		if len(rw.buf) >= minCompressBytes {
			if err := rw.startGzip(); err != nil {
				return 0, err
			}
		}
		return len(p), nil
	case bodyGzip:
		return rw.gz.Write(p)
	default:
		return rw.ResponseWriter.Write(p)
	}
}

// startGzip sends the header of a compressed response and what was held
// back.
func (rw *responseWriter) startGzip() error {
	h := rw.Header()
	h.Del("Content-Length")
	h.Set("Content-Encoding", "gzip")
	// The compressed bytes are another representation: a strong ETag
	// would promise the same bytes, so it becomes weak.
	if et := h.Get("Etag"); strings.HasPrefix(et, `"`) {
		h.Set("Etag", "W/"+et)
	}
	rw.ResponseWriter.WriteHeader(rw.status)
	rw.gz = gzipWriters.Get().(*gzip.Writer)
	rw.gz.Reset(rw.ResponseWriter)
	rw.state = bodyGzip
	_, err := rw.gz.Write(rw.buf)
	rw.buf = rw.buf[:0]
	return err
}

// finish sends what is held back and ends the compressed stream. Call it
// once, after the handler has returned.
func (rw *responseWriter) finish() {
	switch rw.state {
	case bodyBuffered:
		// Too small to be worth it after all.
		rw.state = bodyPlain
		rw.ResponseWriter.WriteHeader(rw.status)
		_, _ = rw.ResponseWriter.Write(rw.buf)
	case bodyGzip:
		_ = rw.gz.Close()
		rw.gz.Reset(nil)
		gzipWriters.Put(rw.gz)
		rw.gz = nil
	}
}

// Flush sends what is held back, compressed, and flushes the connection.
func (rw *responseWriter) Flush() {
	if rw.state == bodyBuffered {
		_ = rw.startGzip()
	}
	if rw.state == bodyGzip {
		_ = rw.gz.Flush()
	}
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands over the connection of a response not yet begun.
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := rw.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("httpapi: the connection cannot be hijacked")
}
