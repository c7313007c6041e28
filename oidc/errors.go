package oidc

import (
	"encoding/json"
	"html/template"
	"net/http"
)

// The error codes of RFC 6749 (sections 4.1.2.1 and 5.2), RFC 7009 and
// OpenID Connect Core (section 3.1.2.6) that the provider answers with.
const (
	errInvalidRequest          = "invalid_request"
	errInvalidClient           = "invalid_client"
	errInvalidGrant            = "invalid_grant"
	errUnauthorizedClient      = "unauthorized_client"
	errUnsupportedGrantType    = "unsupported_grant_type"
	errInvalidScope            = "invalid_scope"
	errAccessDenied            = "access_denied"
	errUnsupportedResponseType = "unsupported_response_type"
	errServerError             = "server_error"
	errLoginRequired           = "login_required"
	errConsentRequired         = "consent_required"
	errRequestNotSupported     = "request_not_supported"
	errRequestURINotSupported  = "request_uri_not_supported"
	errUnmetAuthentication     = "unmet_authentication_requirements"
	errInvalidToken            = "invalid_token"
)

// oauthError is an error as the OAuth endpoints answer it: a code from the
// list above and one sentence for a developer.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func oerr(code, desc string) *oauthError { return &oauthError{Code: code, Description: desc} }

// status returns the HTTP status of the error at the token, revocation and
// userinfo endpoints.
func (e *oauthError) status() int {
	switch e.Code {
	case errInvalidClient, errInvalidToken:
		return http.StatusUnauthorized
	case errServerError:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers e in the OAuth shape, with the WWW-Authenticate header
// that RFC 6749 section 5.2 asks for with invalid_client.
func writeError(w http.ResponseWriter, e *oauthError) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if e.Code == errInvalidClient {
		h.Set("WWW-Authenticate", `Basic realm="valet"`)
	}
	writeJSON(w, e.status(), e)
}

// pages are the provider's own minimal pages: an error that must not
// redirect, the consent step, the logout confirmation and the signed-out
// notice.
var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}}</title></head><body><main>{{end}}
{{define "foot"}}</main></body></html>{{end}}
{{define "error"}}{{template "head" .}}<h1>{{.Title}}</h1><p>{{.Message}}</p>{{template "foot"}}{{end}}
{{define "consent"}}{{template "head" .}}<h1>{{.Title}}</h1>
<p><strong>{{.Client}}</strong> asks to sign you in as <strong>{{.Email}}</strong> and to have:</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
<form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>{{template "foot"}}{{end}}
{{define "logout"}}{{template "head" .}}<h1>{{.Title}}</h1><p>Do you want to sign out of valet?</p>
<form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<button type="submit" name="confirm" value="yes">Sign out</button>
</form>{{template "foot"}}{{end}}
{{define "signedout"}}{{template "head" .}}<h1>{{.Title}}</h1><p>You are signed out. You may close this window.</p>{{template "foot"}}{{end}}
`))

type field struct{ Name, Value string }

// page is the data of a page.
type page struct {
	Title   string
	Message string
	Client  string
	Email   string
	Scopes  []string
	Action  string
	Fields  []field
}

func render(w http.ResponseWriter, status int, name string, data page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, data)
}

// errorPage shows an authorization error that must not go back to the
// client: its redirect_uri is unknown or not its own.
func errorPage(w http.ResponseWriter, status int, msg string) {
	render(w, status, "error", page{Title: "Sign-in request refused", Message: msg})
}
