package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/identify"
)

// writeError writes err in the contract's shape, with the code, status and
// sentence that valet.Describe gives it. An error no sentinel matches is
// logged in full and answered as internal.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	d := valet.Describe(err)
	if !d.Known {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if d.Status == http.StatusServiceUnavailable {
		log.WarnContext(r.Context(), "store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h := w.Header()
	if d.Status == http.StatusUnauthorized && hasBearer(r) {
		// The canonical key, assigned: Set would canonicalize
		// "WWW-Authenticate" into a new string on every refusal.
		h["Www-Authenticate"] = []string{`Bearer error="invalid_token", error_description="` + strings.ReplaceAll(d.Message, `"`, "'") + `"`}
	}
	switch d.Code {
	case "rate_limited":
		h.Set("Retry-After", strconv.Itoa(max(1, int((d.RetryAfter+time.Second-1)/time.Second))))
	case "unavailable":
		h.Set("Retry-After", "1")
	}
	writeJSON(w, d.Status, errorBody{Error: d.Code, Message: d.Message})
}

// errorBody is the contract's one error shape.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// The values of a JSON answer's headers, prepared as securityHeaders are
// and under the same rule: never written through.
var (
	jsonType = []string{"application/json"}[:1:1]
	noStore  = []string{"no-store"}[:1:1]
)

// setJSONHeaders marks a response as JSON that no cache may keep.
func setJSONHeaders(h http.Header) {
	h["Content-Type"], h["Cache-Control"] = jsonType, noStore
}

func hasBearer(r *http.Request) bool {
	_, ok := identify.BearerToken(r)
	return ok
}
