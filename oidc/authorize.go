package oidc

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valetauth/valet"
)

// authRequest is an authorization request that has passed its checks.
type authRequest struct {
	client      valet.Client
	redirectURI string
	state       string
	nonce       string
	challenge   string
	scopes      []string
	prompt      []string
	// maxAge is the max_age parameter in seconds, or -1 when absent.
	maxAge int64
	// mfa says acr_values asked for a second factor.
	mfa bool
	// loginAfter is when the provider sent the browser to sign in for
	// this request (Unix seconds; 0 when it has not): the sign-in it
	// asked for is one at or after it.
	loginAfter int64
	// params are the request's parameters, to send the browser back.
	params url.Values
}

func (a *authRequest) hasPrompt(p string) bool { return slices.Contains(a.prompt, p) }

// authorizeParams are the parameters the provider reads and carries along.
var authorizeParams = []string{
	"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age", "acr_values",
	"response_mode", "login_hint", "ui_locales", "display", "login_after",
}

// authError is a refused authorization request. With redirect false it is
// shown as a page; otherwise it goes back to the client's redirect_uri.
type authError struct {
	*oauthError
	redirect bool
}

// parseAuthorize reads and checks the authorization request in form. The
// client and its redirect_uri are checked first: until both are known to
// belong together, an error is shown, never redirected (RFC 6749 section
// 4.1.2.1).
func (p *Provider) parseAuthorize(ctx context.Context, form url.Values) (*authRequest, *authError, error) {
	page := func(desc string) *authError { return &authError{oauthError: oerr(errInvalidRequest, desc)} }
	for name, vs := range form {
		if len(vs) > 1 && slices.Contains(authorizeParams, name) {
			return nil, page("The parameter " + name + " is given more than once."), nil
		}
		for _, v := range vs {
			if len(v) > maxParamLen {
				return nil, page("A parameter is too long."), nil
			}
		}
	}
	client, found, err := p.clientByID(ctx, form.Get("client_id"))
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, page("The application is not known."), nil
	}
	uri := form.Get("redirect_uri")
	if uri == "" || !slices.Contains(client.RedirectURIs, uri) {
		return nil, page("The redirect_uri is not one registered for the application."), nil
	}
	a := &authRequest{client: client, redirectURI: uri, state: form.Get("state"), nonce: form.Get("nonce"), maxAge: -1, params: url.Values{}}
	for _, name := range authorizeParams {
		if v, ok := form[name]; ok {
			a.params[name] = v
		}
	}
	back := func(code, desc string) (*authRequest, *authError, error) {
		return a, &authError{oauthError: oerr(code, desc), redirect: true}, nil
	}
	switch rt := form.Get("response_type"); rt {
	case "code":
	case "":
		return back(errInvalidRequest, "response_type is required.")
	default:
		return back(errUnsupportedResponseType, "Only response_type=code is supported.")
	}
	if m := form.Get("response_mode"); m != "" && m != "query" {
		return back(errInvalidRequest, "Only response_mode=query is supported.")
	}
	if form.Has("request") {
		return back(errRequestNotSupported, "Request objects are not supported.")
	}
	if form.Has("request_uri") {
		return back(errRequestURINotSupported, "Request objects are not supported.")
	}
	for s := range strings.FieldsSeq(form.Get("scope")) {
		if !slices.Contains(knownScopes, s) {
			return back(errInvalidScope, "The scope "+strconv.Quote(s)+" is not known.")
		}
		if !slices.Contains(client.Scopes, s) {
			return back(errInvalidScope, "The application may not ask for the scope "+s+".")
		}
		if !slices.Contains(a.scopes, s) {
			a.scopes = append(a.scopes, s)
		}
	}
	if len(a.scopes) == 0 {
		return back(errInvalidScope, "scope is required.")
	}
	a.challenge = form.Get("code_challenge")
	switch method := form.Get("code_challenge_method"); {
	case a.challenge == "" && method != "":
		return back(errInvalidRequest, "code_challenge_method without code_challenge.")
	case a.challenge != "" && method != "S256":
		// Absent, the method is plain (RFC 7636 section 4.3), which
		// protects nothing against a reader of the request.
		return back(errInvalidRequest, "code_challenge_method must be S256.")
	case a.challenge != "" && !validChallenge(a.challenge):
		return back(errInvalidRequest, "code_challenge is not an S256 challenge.")
	case a.challenge == "" && client.Public():
		return back(errInvalidRequest, "PKCE (code_challenge with S256) is required for this application.")
	}
	for v := range strings.FieldsSeq(form.Get("prompt")) {
		switch v {
		case "none", "login", "consent":
		default:
			return back(errInvalidRequest, "prompt "+strconv.Quote(v)+" is not supported.")
		}
		a.prompt = append(a.prompt, v)
	}
	if a.hasPrompt("none") && len(a.prompt) > 1 {
		return back(errInvalidRequest, "prompt=none goes with no other value.")
	}
	if s := form.Get("max_age"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return back(errInvalidRequest, "max_age must be a number of seconds.")
		}
		a.maxAge = n
	}
	for v := range strings.FieldsSeq(form.Get("acr_values")) {
		if v == "mfa" || v == "urn:valet:mfa" {
			a.mfa = true
		}
	}
	if s := form.Get("login_after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return back(errInvalidRequest, "login_after is not valet's.")
		}
		a.loginAfter = n
	}
	return a, nil, nil
}

// validChallenge reports whether s can be an S256 challenge: the base64url
// of 32 bytes.
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	return validPKCEChars(s)
}

// validPKCEChars reports whether s has only the characters of RFC 7636
// section 4.1.
func validPKCEChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// readForm parses the query and, for a POST, the form body, with a bound
// on the size of both.
func readForm(w http.ResponseWriter, r *http.Request) bool {
	if len(r.URL.RawQuery) > maxBodySize {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodySize)
	return r.ParseForm() == nil
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		errorPage(w, http.StatusMethodNotAllowed, "This address takes GET and POST.")
		return
	}
	if !readForm(w, r) {
		errorPage(w, http.StatusBadRequest, "The request is malformed or too large.")
		return
	}
	a, aerr, err := p.parseAuthorize(r.Context(), r.Form)
	if err != nil {
		p.serverError(w, r, "authorize", err)
		return
	}
	if aerr != nil {
		p.refuse(w, r, a, aerr)
		return
	}
	id := p.identify(r)
	if done := p.requireLogin(w, r, a, id); done {
		return
	}
	if !a.client.SkipConsent {
		needed, err := p.consentNeeded(r.Context(), a, id)
		if err != nil {
			p.serverError(w, r, "authorize", err)
			return
		}
		if needed {
			if a.hasPrompt("none") {
				p.refuse(w, r, a, &authError{oauthError: oerr(errConsentRequired, "The user has not agreed to this application's scopes."), redirect: true})
				return
			}
			http.Redirect(w, r, withQuery(p.cfg.ConsentURL, a.params), http.StatusFound)
			return
		}
	}
	p.issueCode(w, r, a, id)
}

// identify returns the browser's caller, or nil when it is not signed in or
// may do nothing but enrol a second factor.
func (p *Provider) identify(r *http.Request) *valet.Identity {
	id, err := p.cfg.Identify(r)
	if err != nil || id == nil || id.MustEnrol || id.User.ID == "" || id.User.Disabled {
		return nil
	}
	return id
}

// loginWindow is how long after the provider sends a browser to sign in
// the sign-in counts as the one it asked for.
const loginWindow = 15 * time.Minute

// requireLogin sends the browser to sign in, or refuses the request, when
// the sign-in the request asks for is not the one the browser has. It
// reports whether it answered.
func (p *Provider) requireLogin(w http.ResponseWriter, r *http.Request, a *authRequest, id *valet.Identity) bool {
	now := p.now()
	// fresh: the browser has signed in since the provider sent it to, and
	// that was lately: an old marker in a saved link counts for nothing.
	fresh := id != nil && a.loginAfter > 0 && id.AuthTime.Unix() >= a.loginAfter &&
		a.loginAfter >= now.Add(-loginWindow).Unix()
	var reason string
	switch {
	case id == nil:
		reason = "The user is not signed in."
	case a.hasPrompt("login") && !fresh:
		reason = "The application asks for a new sign-in."
	case !fresh && a.maxAge >= 0 && now.Sub(id.AuthTime) > time.Duration(a.maxAge)*time.Second:
		reason = "The sign-in is older than max_age."
	case a.mfa && !valet.MultiFactor(id.AMR):
		if fresh {
			// Signed in again and still without a second factor: asking
			// once more would loop.
			p.refuse(w, r, a, &authError{oauthError: oerr(errUnmetAuthentication, "The sign-in did not use a second factor."), redirect: true})
			return true
		}
		reason = "The application asks for a second factor."
	default:
		return false
	}
	if a.hasPrompt("none") {
		p.refuse(w, r, a, &authError{oauthError: oerr(errLoginRequired, reason), redirect: true})
		return true
	}
	back := cloneValues(a.params)
	back.Set("login_after", strconv.FormatInt(now.Unix(), 10))
	q := url.Values{"return_to": {withQuery("/oauth2/authorize", back)}}
	http.Redirect(w, r, withQuery(p.cfg.LoginURL, q), http.StatusFound)
	return true
}

// consentNeeded reports whether the user must agree to the request's
// scopes: it asked with prompt=consent, or the stored consent lacks one.
func (p *Provider) consentNeeded(ctx context.Context, a *authRequest, id *valet.Identity) (bool, error) {
	if a.hasPrompt("consent") {
		return true, nil
	}
	c, found, err := p.cfg.Clients.Consent(ctx, id.User.ID, a.client.ID)
	if err != nil || !found {
		return true, err
	}
	for _, s := range a.scopes {
		if !slices.Contains(c.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

// issueCode stores a new authorization code for the request and sends the
// browser back to the client with it.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, a *authRequest, id *valet.Identity) {
	ctx := r.Context()
	now := p.now()
	code := valet.NewID()
	err := p.cfg.Clients.CreateAuthCode(ctx, valet.AuthCode{
		Hash:          valet.HashSecret(code),
		ClientID:      a.client.ID,
		UserID:        id.User.ID,
		SessionID:     id.SessionID,
		RedirectURI:   a.redirectURI,
		Scopes:        a.scopes,
		Nonce:         a.nonce,
		CodeChallenge: a.challenge,
		AMR:           id.AMR,
		AuthTime:      id.AuthTime,
		CreatedAt:     now,
		ExpiresAt:     now.Add(p.cfg.CodeTTL),
	})
	if err != nil {
		p.serverError(w, r, "authorize", err)
		return
	}
	if id.SessionID != "" {
		exp := id.ExpiresAt
		if exp.IsZero() {
			exp = now.Add(p.cfg.GrantTTL)
		}
		// The grant is what back-channel logout reads when the session
		// ends; it is recorded with the code, before any token exists.
		g := valet.ClientGrant{SessionID: id.SessionID, ClientID: a.client.ID, UserID: id.User.ID, ExpiresAt: exp}
		if err := p.cfg.Clients.AddClientGrant(ctx, g); err != nil {
			p.serverError(w, r, "authorize", err)
			return
		}
	}
	q := url.Values{"code": {code}, "iss": {p.cfg.Issuer}}
	if a.state != "" {
		q.Set("state", a.state)
	}
	redirectTo(w, a.redirectURI, q)
}

// refuse answers a refused authorization request: a page when the
// redirect_uri is not known to be the client's, else a redirect carrying
// error, error_description, state and iss.
func (p *Provider) refuse(w http.ResponseWriter, r *http.Request, a *authRequest, e *authError) {
	if !e.redirect || a == nil {
		errorPage(w, http.StatusBadRequest, e.Description)
		return
	}
	q := url.Values{"error": {e.Code}, "error_description": {e.Description}, "iss": {p.cfg.Issuer}}
	if a.state != "" {
		q.Set("state", a.state)
	}
	redirectTo(w, a.redirectURI, q)
}

func (p *Provider) serverError(w http.ResponseWriter, r *http.Request, where string, err error) {
	p.cfg.Logger.ErrorContext(r.Context(), "oidc: "+where, "err", err)
	errorPage(w, http.StatusInternalServerError, "The server failed; try again.")
}

// redirectTo sends the browser to uri, a registered address, with q added
// to its query. uri is used as registered, byte for byte.
func redirectTo(w http.ResponseWriter, uri string, q url.Values) {
	w.Header().Set("Location", withQuery(uri, q))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

// withQuery returns uri with q appended to its query.
func withQuery(uri string, q url.Values) string {
	if len(q) == 0 {
		return uri
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + q.Encode()
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = slices.Clone(vs)
	}
	return c
}
