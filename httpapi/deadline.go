package httpapi

import (
	"context"
	"net/http"
	"time"
)

// Deadline bounds the store work of each request to d in all: every store
// call of a request shares one deadline, so an outage answers 503 within d
// however many calls the request makes, instead of d for each of them. The
// requests whose paths are in long (bulk work such as an import) have no
// deadline of their own. d <= 0 returns next.
func Deadline(next http.Handler, d time.Duration, long ...string) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range long {
			if r.URL.Path == p {
				next.ServeHTTP(w, r)
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
