package httpapi

import (
	"context"
	"net/http"
	"time"
)

// Deadline bounds the store work of each request to d in all: every store
// call of a request shares one deadline, so an outage answers 503 within d
// however many calls the request makes, instead of d for each of them. The
// requests whose paths are in long have no deadline of their own, only the
// stores' bound on each call: bulk work such as an import, and the requests
// that hash a password (see PasswordPaths), whose hashing may take longer
// than any store call ever should. d <= 0 returns next.
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

// PasswordPaths are the paths of the requests that check or hash a
// password, in the API and on the pages, and so may spend more than a
// store's bound in hashing alone.
var PasswordPaths = []string{
	ImportPath, "/v1/login", "/v1/signup", "/v1/password", "/v1/admin/users",
	"/v1/recovery", "/v1/recovery/complete", "/v1/email",
	"/signin", "/signup", "/account/password", "/account/email", "/recovery", "/recovery/reset",
}
