package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
)

// formState is what a form shows again after a failed post: what was typed
// (never a password) and the errors, for the whole form and for each field.
type formState struct {
	Email  string
	Error  string
	Fields map[string]string
	// Focus names the field the cursor goes to when no field has an error.
	Focus string
}

// FieldError returns the error of field name, or "".
func (f formState) FieldError(name string) string { return f.Fields[name] }

// modeOption is one choice of the mode selector.
type modeOption struct {
	Value, Label, Hint string
	Checked            bool
	// Default marks the server's default mode.
	Default bool
}

type signinData struct {
	layout
	ReturnTo string
	Modes    []modeOption
	SignIn   formState
	SignUp   formState
	// Unverified says that the password was right and the address must be
	// verified first: the page offers a new link.
	Unverified bool
	// Mail says whether the server sends mail, and so offers recovery.
	Mail bool
	// ModeChosen says that the mode asked for is not the default: the
	// advanced choice is shown open.
	ModeChosen bool
	// Passkeys says whether the server takes passkeys, and so offers to
	// sign in with one. PasskeyFailed says that a passkey was just refused:
	// the email field's autofill does not offer it again at once.
	Passkeys, PasskeyFailed bool
}

func (h *Handler) modes(chosen valet.Mode) []modeOption {
	def := h.svc.Settings().Mode
	if chosen == "" {
		chosen = def
	}
	out := []modeOption{
		{Value: "session", Label: "Session", Hint: "A signed cookie; the server keeps the session."},
		{Value: "token", Label: "Token", Hint: "A short-lived JWT; nothing kept per request."},
		{Value: "hybrid", Label: "Hybrid", Hint: "A JWT tied to a session; revocable at once."},
	}
	for i := range out {
		out[i].Checked = out[i].Value == string(chosen)
		out[i].Default = out[i].Value == string(def)
	}
	return out
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	v, ended, err := h.whoIs(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	returnTo := returnParam(r.URL.Query())
	if v != nil && !asksSignInAgain(returnTo) {
		http.Redirect(w, r, h.safeReturn(returnTo, r), http.StatusSeeOther)
		return
	}
	// A sign-in that has to start again comes back with its mode.
	mode := valet.Mode(chosenMode(r.URL.Query().Get("mode")))
	d := signinData{layout: layout{Title: "Sign in"}, ReturnTo: h.vetReturn(returnTo, r), Modes: h.modes(mode), Mail: h.svc.Settings().Mail,
		ModeChosen: mode != "" && mode != h.svc.Settings().Mode, Passkeys: h.passkeys}
	h.allowFormRedirect(w, d.ReturnTo)
	d.Flash = h.takeFlash(w, r)
	if ended && d.Flash == nil {
		f := flashes["session-ended"]
		d.Flash = &f
	}
	d.SignIn.Email = r.URL.Query().Get("email")
	h.render(w, r, http.StatusOK, "signin", d)
}

// parseForm reads a posted form, answering 413 or 400 itself when it cannot.
func (h *Handler) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.renderError(w, r, http.StatusRequestEntityTooLarge, "Too much data", "The form sent more data than this server accepts.")
			return false
		}
		h.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read. Go back and try again.")
		return false
	}
	return true
}

func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	email, pw := r.PostForm.Get("email"), r.PostForm.Get("password")
	returnTo := h.vetReturn(returnParam(r.PostForm), r)
	mode, err := valet.ParseMode(r.PostForm.Get("mode"))
	if r.PostForm.Get("mode") == "" {
		mode, err = h.svc.Settings().Mode, nil
	}
	if err == nil {
		grant, lerr := h.svc.Login(r.Context(), email, pw, mode, h.client(r))
		var need *auth.MFARequiredError
		if errors.As(lerr, &need) {
			h.askSecondFactor(w, r, need, returnTo, chosenMode(r.PostForm.Get("mode")), "")
			return
		}
		if lerr == nil {
			// One browser, one sign-in: whatever it held before ends. A
			// failure here leaves an orphan that expires on its own.
			_ = h.endBrowserLogin(r)
			h.setGrantCookies(w, r, grant)
			h.redirect(w, r, orDefault(returnTo), "")
			return
		}
		err = lerr
	}
	fe := h.describe(r, err, "signin")
	d := signinData{layout: layout{Title: "Sign in"}, ReturnTo: returnTo, Modes: h.modes(mode), Mail: h.svc.Settings().Mail,
		Unverified: errors.Is(err, valet.ErrEmailUnverified), ModeChosen: mode != "" && mode != h.svc.Settings().Mode,
		Passkeys: h.passkeys}
	h.allowFormRedirect(w, returnTo)
	d.SignIn = formState{Email: email, Error: fe.message, Fields: map[string]string{}}
	if errors.Is(err, valet.ErrInvalidCredentials) && strings.TrimSpace(email) != "" {
		// The email is kept: the password is what to type again.
		d.SignIn.Focus = "password"
	}
	if fe.field != "" {
		d.SignIn.Fields[fe.field], d.SignIn.Error = fe.message, ""
	}
	h.renderForm(w, r, fe, "signin", d)
}

func (h *Handler) signup(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	email, pw := r.PostForm.Get("email"), r.PostForm.Get("password")
	returnTo := h.vetReturn(returnParam(r.PostForm), r)
	ctx := r.Context()
	_, err := h.svc.Signup(ctx, email, pw, h.client(r))
	if err == nil {
		g, lerr := h.svc.Login(ctx, email, pw, "", h.client(r))
		if errors.Is(lerr, valet.ErrEmailUnverified) {
			// This server signs in verified addresses only.
			h.redirect(w, r, "/verify?email="+url.QueryEscape(strings.TrimSpace(email)), "signup-verify")
			return
		}
		if lerr != nil {
			// The account exists; only the automatic sign-in failed (a
			// limit, a busy store). Let the person sign in by hand.
			h.log.WarnContext(ctx, "sign-in after sign-up failed", "err", lerr)
			h.redirect(w, r, "/?email="+url.QueryEscape(strings.TrimSpace(email)), "signup-signin")
			return
		}
		_ = h.endBrowserLogin(r)
		h.setGrantCookies(w, r, g)
		// The welcome is shown on valet's own pages only: on the way back
		// to an application it would wait for the next visit here.
		welcome := "welcome"
		if h.svc.Settings().Mail {
			welcome = "welcome-verify"
		}
		if isAbsolute(returnTo) {
			welcome = ""
		}
		h.redirect(w, r, orDefault(returnTo), welcome)
		return
	}
	fe := h.describe(r, err, "signup")
	d := signinData{layout: layout{Title: "Create an account"}, ReturnTo: returnTo, Mail: h.svc.Settings().Mail}
	h.allowFormRedirect(w, returnTo)
	d.SignUp = formState{Email: email, Error: fe.message, Fields: map[string]string{}}
	if fe.field != "" {
		d.SignUp.Fields[fe.field], d.SignUp.Error = fe.message, ""
	}
	h.renderForm(w, r, fe, "signup", d)
}

// signupPage shows the sign-up form, which leads back to the same return
// target as the sign-in page. A signed-in visitor is sent on.
func (h *Handler) signupPage(w http.ResponseWriter, r *http.Request) {
	v, _, err := h.whoIs(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	returnTo := returnParam(r.URL.Query())
	if v != nil && !asksSignInAgain(returnTo) {
		http.Redirect(w, r, h.safeReturn(returnTo, r), http.StatusSeeOther)
		return
	}
	d := signinData{layout: layout{Title: "Create an account"}, ReturnTo: h.vetReturn(returnTo, r), Mail: h.svc.Settings().Mail}
	h.allowFormRedirect(w, d.ReturnTo)
	d.SignUp.Email = r.URL.Query().Get("email")
	h.render(w, r, http.StatusOK, "signup", d)
}

// renderForm shows page again with an error's status, and Retry-After where
// waiting is the remedy.
func (h *Handler) renderForm(w http.ResponseWriter, r *http.Request, fe formErr, page string, data any) {
	if fe.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(fe.retryAfter))
	}
	h.render(w, r, fe.status, page, data)
}

type signoutData struct {
	layout
	ReturnTo string
}

// signoutPage asks a signed-in browser to confirm signing out (GET
// /signout?rd=...), so that a link or an image elsewhere cannot sign anyone
// out; the form posts to /signout with the return target. A browser that
// is not signed in is sent on at once.
func (h *Handler) signoutPage(w http.ResponseWriter, r *http.Request) {
	v, _, err := h.whoIs(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	returnTo := h.vetReturn(returnParam(r.URL.Query()), r)
	if v == nil {
		if returnTo == "" {
			returnTo = "/"
		}
		http.Redirect(w, r, returnTo, http.StatusSeeOther)
		return
	}
	h.allowFormRedirect(w, returnTo)
	h.render(w, r, http.StatusOK, "signout", signoutData{
		layout:   layout{Title: "Sign out", Viewer: &v.id.User, IsAdmin: v.id.User.HasRole("admin")},
		ReturnTo: returnTo,
	})
}

// signout ends the browser's sign-in and sends it to the form's rd (or
// return_to) when that is allowed, else to the sign-in page.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	if err := h.endBrowserLogin(r); err != nil {
		h.fail(w, r, err)
		return
	}
	h.cookies.ClearAll(w, r)
	switch target := h.vetReturn(returnParam(r.PostForm), r); {
	case target == "":
		h.redirect(w, r, "/", "signed-out")
	case isAbsolute(target):
		h.redirect(w, r, target, "")
	default:
		h.redirect(w, r, target, "signed-out")
	}
}

// formErr is how a failed form post is shown: its status, the field it is
// about ("" for the whole form), and a sentence for the person.
type formErr struct {
	status     int
	field      string
	message    string
	retryAfter int
}

// describe turns an error of the engine into what the form shows. op is
// "signin", "signup", "password", "recovery", "verify", "email", or for
// second factors "mfa", "passkey", "reauth", "factor" or "totp", which
// decides the field a message belongs to. Errors it does not know are
// logged and shown as one sentence.
func (h *Handler) describe(r *http.Request, err error, op string) formErr {
	pwField, emailField := "password", "email"
	switch op {
	case "password", "recovery":
		pwField = "new_password"
	case "email":
		emailField = "new_email"
	}
	switch {
	case errors.Is(err, valet.ErrInvalidCredentials) && (op == "password" || op == "email"):
		return formErr{status: http.StatusUnauthorized, field: "current_password", message: "Your current password is not right."}
	case errors.Is(err, valet.ErrEmailUnverified):
		return formErr{status: http.StatusForbidden, message: "Verify your email address first: open the link we sent to it, or enter its code. Lost the mail? Ask for a new one below."}
	case errors.Is(err, valet.ErrInvalidCode):
		return formErr{status: http.StatusBadRequest, field: "code", message: "This code is wrong, used or expired."}
	case errors.Is(err, valet.ErrInvalidCredentials):
		// The same words whether the email is unknown or the password wrong.
		return formErr{status: http.StatusUnauthorized, message: "Wrong email or password."}
	case errors.Is(err, valet.ErrUserDisabled):
		return formErr{status: http.StatusForbidden, message: "This account is disabled. Ask an administrator to enable it."}
	case errors.Is(err, valet.ErrReauthRequired):
		return formErr{status: http.StatusForbidden, message: valet.Message(err)}
	case errors.Is(err, valet.ErrNotFound):
		return formErr{status: http.StatusNotFound, message: valet.Message(err)}
	case errors.Is(err, valet.ErrWeakPassword):
		return formErr{status: http.StatusBadRequest, field: pwField, message: valet.Message(err)}
	case errors.Is(err, valet.ErrInvalidEmail):
		return formErr{status: http.StatusBadRequest, field: emailField, message: "Enter an email address like name@example.com."}
	case errors.Is(err, valet.ErrConflict) && op == "factor":
		return formErr{status: http.StatusConflict, message: valet.Message(err)}
	case errors.Is(err, valet.ErrConflict) && op != "signup":
		return formErr{status: http.StatusConflict, field: emailField, message: "Another account has this email address."}
	case errors.Is(err, valet.ErrConflict):
		return formErr{status: http.StatusConflict, field: "email", message: "An account with this email already exists. Sign in instead, or use another email."}
	case errors.Is(err, valet.ErrRateLimited):
		wait := time.Minute
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			wait = ra.RetryAfter()
		}
		secs := int((wait + time.Second - 1) / time.Second)
		return formErr{status: http.StatusTooManyRequests, retryAfter: secs,
			message: "Too many attempts. Try again in " + waitWords(secs) + "."}
	case errors.Is(err, valet.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return formErr{status: http.StatusServiceUnavailable, retryAfter: 1,
			message: "The service is busy or cannot reach its store. Try again in a moment."}
	case errors.Is(err, valet.ErrInvalidRequest) && op == "email":
		return formErr{status: http.StatusBadRequest, field: emailField, message: valet.Message(err)}
	case errors.Is(err, valet.ErrInvalidRequest):
		return formErr{status: http.StatusBadRequest, message: valet.Message(err)}
	}
	h.log.ErrorContext(r.Context(), "form failed", "op", op, "err", err)
	return formErr{status: http.StatusInternalServerError, message: "Something went wrong on our side. Try again."}
}

// defaultReturn is where a sign-in lands when it names no place to return to.
const defaultReturn = "/account"

// returnParam returns the return target a request names: rd (the name
// forward auth uses), else return_to.
func returnParam(v url.Values) string {
	if t := v.Get("rd"); t != "" {
		return t
	}
	return v.Get("return_to")
}

// safeReturn returns where a browser goes after signing in: target when
// vetReturn allows it, defaultReturn otherwise.
func (h *Handler) safeReturn(target string, r *http.Request) string {
	return orDefault(h.vetReturn(target, r))
}

func orDefault(target string) string {
	if target == "" {
		return defaultReturn
	}
	return target
}

// vetReturn returns target in the form a redirect may use, or "" when the
// browser must not be sent there. A path on this site is kept with its
// query (an absolute URL to the host r was sent to becomes that path). An
// absolute http or https URL to another host is kept only when the host is
// allowed: the host r was sent to on another port, or what
// httpapi.Config.RedirectAllowed allows (valet's public host, the hosts
// under the cookie domain, the allowed redirect hosts), host names being
// compared without the port. Anything a browser could read as another
// host (//host, /\host, a scheme other than http and https, user info,
// control characters, spaces) is refused, so a link can never send someone
// to a site of the sender's choice. Fragments are dropped.
func (h *Handler) vetReturn(target string, r *http.Request) string {
	if target == "" || len(target) > 2048 || strings.ContainsAny(target, "\\") ||
		strings.ContainsFunc(target, func(c rune) bool { return c < 0x20 || c == 0x7f || unicode.IsSpace(c) }) {
		return ""
	}
	u, err := url.Parse(target)
	if err != nil || u.User != nil || u.Opaque != "" {
		return ""
	}
	p := u.EscapedPath()
	query := ""
	if u.RawQuery != "" {
		query = "?" + u.RawQuery
	}
	if u.Scheme == "" && u.Host == "" || strings.EqualFold(u.Host, r.Host) && (u.Scheme == "http" || u.Scheme == "https") {
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
			return ""
		}
		return p + query
	}
	if (u.Scheme != "http" && u.Scheme != "https") || !validHost(u.Host) {
		return ""
	}
	host := u.Hostname()
	if strings.HasSuffix(host, ".") {
		// The same host to DNS, another to cookies: refused, not guessed.
		return ""
	}
	if !strings.EqualFold(host, hostname(r.Host)) && !h.api.RedirectAllowed(host) {
		return ""
	}
	if p == "" {
		p = "/"
	}
	if !strings.HasPrefix(p, "/") {
		return ""
	}
	return u.Scheme + "://" + strings.ToLower(u.Host) + p + query
}

// asksSignInAgain reports whether target is an app's sign-in request
// (OpenID Connect) that wants a sign-in newer than the one the browser has
// (prompt=login, max_age): the provider marks it with login_after, and the
// form is shown even to a signed-in browser, else the two would send it
// back and forth.
func asksSignInAgain(target string) bool {
	u, err := url.Parse(target)
	return err == nil && u.Path == "/oauth2/authorize" && u.Query().Get("login_after") != ""
}

// isAbsolute reports whether a target vetReturn gave names a host.
func isAbsolute(target string) bool {
	return strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://")
}

// hostname returns the host of a Host header, without the port.
func hostname(hostport string) string {
	if u, err := url.Parse("//" + hostport); err == nil {
		return u.Hostname()
	}
	return hostport
}

// validHost reports whether h is a host name or an IP address, with an
// optional port, and holds nothing that a header or a policy could read
// otherwise.
func validHost(h string) bool {
	host, port := h, ""
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		host, port = h[:i], h[i+1:]
		if port == "" || len(port) > 5 || strings.ContainsFunc(port, func(c rune) bool { return c < '0' || c > '9' }) {
			return false
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		return host != "" && !strings.ContainsFunc(host, func(c rune) bool {
			return !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.')
		})
	}
	return host != "" && len(host) <= 253 && !strings.ContainsFunc(host, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-')
	})
}

// allowFormRedirect lets the forms of the page being answered lead, after
// their post, to target's origin when target is absolute: browsers apply
// the page's form-action to the redirect that answers a form, so without
// this the way back to the application would be blocked. target has been
// through vetReturn, which leaves nothing in it a policy could misread.
func (h *Handler) allowFormRedirect(w http.ResponseWriter, target string) {
	u, err := url.Parse(target)
	if err != nil {
		return
	}
	var origins []string
	if isAbsolute(target) && validHost(u.Host) {
		origins = append(origins, u.Scheme+"://"+u.Host)
	}
	// A sign-in on the way to an app (OpenID Connect) ends, through
	// /oauth2/authorize, at the app's redirect_uri, and browsers hold the
	// whole chain of redirects after a form to form-action. The provider
	// redirects only to the client's registered URIs; this widens what the
	// page's forms may lead to, never where they go.
	if u.Path == "/oauth2/authorize" && (!isAbsolute(target) || len(origins) > 0) {
		if ru, err := url.Parse(u.Query().Get("redirect_uri")); err == nil && (ru.Scheme == "https" || ru.Scheme == "http") && validHost(ru.Host) {
			origins = append(origins, ru.Scheme+"://"+ru.Host)
		}
	}
	if len(origins) == 0 {
		return
	}
	w.Header().Set("Content-Security-Policy",
		strings.Replace(ContentSecurityPolicy, "form-action 'self'", "form-action 'self' "+strings.Join(origins, " "), 1))
}

// waitWords says a wait of secs seconds as a person would: "a few seconds",
// "1 minute", "5 minutes".
func waitWords(secs int) string {
	switch {
	case secs <= 10:
		return "a few seconds"
	case secs < 60:
		return plural(secs, "second")
	}
	return plural((secs+59)/60, "minute")
}
