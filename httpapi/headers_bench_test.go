package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// headerWriter is a ResponseWriter whose header map is kept from one
// request to the next, so that a benchmark counts what a handler
// allocates, not the map.
type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *headerWriter) WriteHeader(int)             {}

// BenchmarkSecurityHeaders is the cost of the headers that every response
// carries, which every request pays.
func BenchmarkSecurityHeaders(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		clear(h)
		setSecurityHeaders(h, r)
	}
}

// BenchmarkWriteJSON is the cost of a small JSON answer, headers included.
func BenchmarkWriteJSON(b *testing.B) {
	w := &headerWriter{h: http.Header{}}
	body := errorBody{Error: "not_found", Message: "No such endpoint."}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		writeJSON(w, http.StatusNotFound, body)
	}
}
