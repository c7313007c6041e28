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
)

// formState is what a form shows again after a failed post: what was typed
// (never a password) and the errors, for the whole form and for each field.
type formState struct {
	Email  string
	Error  string
	Fields map[string]string
}

// FieldError returns the error of field name, or "".
func (f formState) FieldError(name string) string { return f.Fields[name] }

// modeOption is one choice of the mode selector.
type modeOption struct {
	Value, Label, Hint string
	Checked            bool
}

type signinData struct {
	layout
	ReturnTo string
	Modes    []modeOption
	SignIn   formState
	SignUp   formState
}

func (h *Handler) modes(chosen valet.Mode) []modeOption {
	if chosen == "" {
		chosen = h.svc.Settings().Mode
	}
	out := []modeOption{
		{Value: "session", Label: "Session", Hint: "A signed cookie; the server keeps the session."},
		{Value: "token", Label: "Token", Hint: "A short-lived JWT; nothing kept per request."},
		{Value: "hybrid", Label: "Hybrid", Hint: "A JWT tied to a session; revocable at once."},
	}
	for i := range out {
		out[i].Checked = out[i].Value == string(chosen)
	}
	return out
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	v, ended, err := h.whoIs(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	returnTo := r.URL.Query().Get("return_to")
	if v != nil {
		http.Redirect(w, r, safeReturn(returnTo, r), http.StatusSeeOther)
		return
	}
	d := signinData{layout: layout{Title: "Sign in"}, ReturnTo: localOrEmpty(returnTo, r), Modes: h.modes("")}
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
	returnTo := r.PostForm.Get("return_to")
	mode, err := valet.ParseMode(r.PostForm.Get("mode"))
	if r.PostForm.Get("mode") == "" {
		mode, err = h.svc.Settings().Mode, nil
	}
	if err == nil {
		grant, lerr := h.svc.Login(r.Context(), email, pw, mode, h.client(r))
		if lerr == nil {
			// One browser, one sign-in: whatever it held before ends. A
			// failure here leaves an orphan that expires on its own.
			_ = h.endBrowserLogin(r)
			h.setGrantCookies(w, r, grant)
			h.redirect(w, r, safeReturn(returnTo, r), "")
			return
		}
		err = lerr
	}
	fe := h.describe(r, err, "signin")
	d := signinData{layout: layout{Title: "Sign in"}, ReturnTo: localOrEmpty(returnTo, r), Modes: h.modes(mode)}
	d.SignIn = formState{Email: email, Error: fe.message, Fields: map[string]string{}}
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
	returnTo := r.PostForm.Get("return_to")
	ctx := r.Context()
	_, err := h.svc.Signup(ctx, email, pw, h.client(r))
	if err == nil {
		g, lerr := h.svc.Login(ctx, email, pw, "", h.client(r))
		if lerr != nil {
			// The account exists; only the automatic sign-in failed (a
			// limit, a busy store). Let the person sign in by hand.
			h.log.WarnContext(ctx, "sign-in after sign-up failed", "err", lerr)
			h.redirect(w, r, "/?email="+url.QueryEscape(strings.TrimSpace(email)), "signup-signin")
			return
		}
		_ = h.endBrowserLogin(r)
		h.setGrantCookies(w, r, g)
		h.redirect(w, r, safeReturn(returnTo, r), "welcome")
		return
	}
	fe := h.describe(r, err, "signup")
	d := signinData{layout: layout{Title: "Create an account"}, ReturnTo: localOrEmpty(returnTo, r), Modes: h.modes("")}
	d.SignUp = formState{Email: email, Error: fe.message, Fields: map[string]string{}}
	if fe.field != "" {
		d.SignUp.Fields[fe.field], d.SignUp.Error = fe.message, ""
	}
	h.renderForm(w, r, fe, "signin", d)
}

// renderForm shows page again with an error's status, and Retry-After where
// waiting is the remedy.
func (h *Handler) renderForm(w http.ResponseWriter, r *http.Request, fe formErr, page string, data any) {
	if fe.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(fe.retryAfter))
	}
	h.render(w, r, fe.status, page, data)
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	if err := h.endBrowserLogin(r); err != nil {
		h.fail(w, r, err)
		return
	}
	h.cookies.ClearAll(w, r)
	h.redirect(w, r, "/", "signed-out")
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
// "signin", "signup" or "password", which decides the field a message
// belongs to. Errors it does not know are logged and shown as one sentence.
func (h *Handler) describe(r *http.Request, err error, op string) formErr {
	pwField := "password"
	if op == "password" {
		pwField = "new_password"
	}
	switch {
	case errors.Is(err, valet.ErrInvalidCredentials) && op == "password":
		return formErr{status: http.StatusUnauthorized, field: "current_password", message: "Your current password is not right."}
	case errors.Is(err, valet.ErrInvalidCredentials):
		// The same words whether the email is unknown or the password wrong.
		return formErr{status: http.StatusUnauthorized, message: "Wrong email or password."}
	case errors.Is(err, valet.ErrUserDisabled):
		return formErr{status: http.StatusForbidden, message: "This account is disabled. Ask an administrator to enable it."}
	case errors.Is(err, valet.ErrWeakPassword):
		return formErr{status: http.StatusBadRequest, field: pwField, message: valet.Message(err)}
	case errors.Is(err, valet.ErrInvalidEmail):
		return formErr{status: http.StatusBadRequest, field: "email", message: "Enter an email address like name@example.com."}
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
	case errors.Is(err, valet.ErrInvalidRequest):
		return formErr{status: http.StatusBadRequest, message: valet.Message(err)}
	}
	h.log.ErrorContext(r.Context(), "form failed", "op", op, "err", err)
	return formErr{status: http.StatusInternalServerError, message: "Something went wrong on our side. Try again."}
}

// defaultReturn is where a sign-in lands when it names no place to return to.
const defaultReturn = "/account"

// safeReturn returns target when it is an address on this site, as a path
// with its query, and defaultReturn otherwise. An absolute URL is accepted
// only for the host r was sent to; anything that a browser could read as
// another host (//host, /\host, a scheme, user info, control characters) is
// refused, so a sign-in link can never send someone elsewhere.
func safeReturn(target string, r *http.Request) string {
	if p := localOrEmpty(target, r); p != "" {
		return p
	}
	return defaultReturn
}

// localOrEmpty is safeReturn's check: the local path of target, or "".
func localOrEmpty(target string, r *http.Request) string {
	if target == "" || len(target) > 2048 || strings.ContainsAny(target, "\\") ||
		strings.ContainsFunc(target, func(c rune) bool { return c < 0x20 || c == 0x7f || unicode.IsSpace(c) }) {
		return ""
	}
	u, err := url.Parse(target)
	if err != nil || u.User != nil || u.Opaque != "" {
		return ""
	}
	if u.Scheme != "" || u.Host != "" {
		if (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, r.Host) {
			return ""
		}
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return ""
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
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
