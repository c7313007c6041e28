package httpapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/jsonenc"
)

// me answers GET /v1/me: the caller's user, its second factors, and how it
// signed in.
func (a *API) me(w http.ResponseWriter, r *http.Request, id *valet.Identity) {
	kinds, err := a.svc.FactorKinds(r.Context(), id.User.ID)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	bp := meBuffers.Get().(*[]byte)
	b := appendMe((*bp)[:0], id, kinds)
	setJSONHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	*bp = b[:0]
	meBuffers.Put(bp)
}

var meBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendMe appends the answer of GET /v1/me to b. It is written out by
// hand, not with encoding/json, because /v1/me is the hottest endpoint and
// reflection and its allocations were a good part of its cost. The bytes
// are those that encoding/json made of the struct it replaced (see
// TestMeIsEncodingJSON): keys in sorted order, the optional ones left out
// when empty, strings escaped as encoding/json escapes them, and the
// trailing newline of json.Encoder.
func appendMe(b []byte, id *valet.Identity, kinds []valet.FactorKind) []byte {
	b = append(b, `{"auth":{"amr":`...)
	b = appendStrings(b, nonNil(id.AMR))
	if !id.AuthTime.IsZero() {
		b = append(b, `,"auth_time":`...)
		b = appendTime(b, id.AuthTime)
	}
	b = append(b, `,"expires_at":`...)
	b = appendTime(b, id.ExpiresAt)
	b = append(b, `,"mode":`...)
	b = jsonenc.AppendString(b, string(id.Mode))
	// Says that the server's policy wants a second factor that this
	// sign-in did not use: add one before anything else.
	if id.MustEnrol {
		b = append(b, `,"mfa_enrollment_required":true`...)
	}
	if id.SessionID != "" {
		b = append(b, `,"session_id":`...)
		b = jsonenc.AppendString(b, id.SessionID)
	}
	u := id.User
	b = append(b, `},"user":{"id":`...)
	b = jsonenc.AppendString(b, u.ID)
	b = append(b, `,"email":`...)
	b = jsonenc.AppendString(b, u.Email)
	b = append(b, `,"email_verified":`...)
	b = appendBool(b, u.EmailVerified)
	b = append(b, `,"roles":`...)
	b = appendStrings(b, nonNil(u.Roles))
	if u.Disabled {
		b = append(b, `,"disabled":true`...)
	}
	if !u.CreatedAt.IsZero() {
		b = append(b, `,"created_at":`...)
		b = appendTime(b, u.CreatedAt)
	}
	b = append(b, `,"mfa":`...)
	b = appendStrings(b, kinds)
	return append(b, "}}\n"...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendTime appends t as rfc3339 writes it, quoted.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

// appendStrings appends a JSON array of ss, null when ss is nil.
func appendStrings[S ~string](b []byte, ss []S) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, string(s))
	}
	return append(b, ']')
}
