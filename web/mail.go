package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
)

// recoveryData is the page of /recovery: the form that asks for a link and
// a code, the form that takes a code, and, with a link's token, the form
// that sets the new password.
type recoveryData struct {
	layout
	// Token is the token of the link that opened the page; the page then
	// shows only the form that sets the new password.
	Token string
	// Sent says that a request was taken: the page tells to look at the
	// mail, and offers the code form for Email.
	Sent  bool
	Email string
	// Invalid says that the link or code was wrong, used or expired: the
	// page says so and offers to start again.
	Invalid     bool
	Request     formState
	Reset       formState
	RecoveryTTL time.Duration
	NoMail      bool
}

func (h *Handler) recoveryData(r *http.Request) recoveryData {
	st := h.svc.Settings()
	return recoveryData{layout: layout{Title: "Forgot your password?"}, RecoveryTTL: st.RecoveryTTL, NoMail: !st.Mail}
}

// recoveryPage shows the forms of recovery, or, with ?token= from a
// recovery link, the form that sets the new password. Opening the link
// uses nothing up: only the form's post does, so that a mail scanner that
// follows links spends no one's link.
func (h *Handler) recoveryPage(w http.ResponseWriter, r *http.Request) {
	d := h.recoveryData(r)
	q := r.URL.Query()
	d.Token = q.Get("token")
	if d.Token != "" {
		d.Title = "Choose a new password"
	}
	d.Request.Email = q.Get("email")
	d.Flash = h.takeFlash(w, r)
	h.render(w, r, http.StatusOK, "recovery", d)
}

// requestRecovery asks for a recovery mail. The page that answers is the
// same whether or not an account has the address.
func (h *Handler) requestRecovery(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	d := h.recoveryData(r)
	if err := h.svc.RequestRecovery(r.Context(), email, h.client(r)); err != nil {
		fe := h.describe(r, err, "recovery")
		d.Request = fieldState(email, fe)
		h.renderForm(w, r, fe, "recovery", d)
		return
	}
	d.Title, d.Sent, d.Email = "Check your mail", true, email
	d.Reset.Email = email
	h.render(w, r, http.StatusOK, "recovery", d)
}

// resetPassword sets the new password with a link's token or a code, then
// signs the browser in with it.
func (h *Handler) resetPassword(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	f := r.PostForm
	tok, email, code := f.Get("token"), strings.TrimSpace(f.Get("email")), f.Get("code")
	next := f.Get("new_password")
	ctx, c := r.Context(), h.client(r)
	var (
		u   valet.User
		err error
	)
	if next != f.Get("confirm_password") {
		err = errMismatch
	} else {
		u, _, err = h.svc.CompleteRecovery(ctx, tok, email, code, next, c)
	}
	if err != nil {
		d := h.recoveryData(r)
		d.Token, d.Email, d.Sent = tok, email, tok == ""
		fe := formErr{status: http.StatusBadRequest, field: "confirm_password", message: "The two new passwords are not the same."}
		switch {
		case errors.Is(err, errMismatch):
		case errors.Is(err, valet.ErrInvalidCode):
			// Nothing on this form can fix it: start again.
			d.Token, d.Sent, d.Invalid = "", false, true
			d.Request.Email = email
			fe = formErr{status: http.StatusBadRequest, message: "This link or code is wrong, used or expired. Ask for a new one below."}
		default:
			fe = h.describe(r, err, "recovery")
		}
		d.Reset = fieldState(email, fe)
		if d.Invalid {
			d.Reset = formState{}
			d.Request.Error = fe.message
		}
		h.renderForm(w, r, fe, "recovery", d)
		return
	}
	// Every session of the user ended, this browser's too.
	h.cookies.ClearAll(w, r)
	g, err := h.svc.Login(ctx, u.Email, next, "", c)
	var need *auth.MFARequiredError
	if errors.As(err, &need) {
		// A new password is not a second factor: the sign-in goes on to
		// ask for one.
		h.askSecondFactor(w, r, need, "", "", flashes["password-reset-mfa"].Text)
		return
	}
	if err != nil {
		h.log.WarnContext(ctx, "sign-in after a recovery failed", "err", err)
		key := "password-reset-signin"
		if kinds, kerr := h.svc.FactorKinds(ctx, u.ID); kerr == nil && len(kinds) > 0 {
			key = "password-reset-mfa"
		}
		h.redirect(w, r, "/?email="+url.QueryEscape(u.Email), key)
		return
	}
	h.setGrantCookies(w, r, g)
	h.redirect(w, r, "/account", "password-reset")
}

// verifyData is the page of /verify: with a link's token, a button that
// uses it; otherwise the form that takes a code, and one that asks for a
// new link.
type verifyData struct {
	layout
	Token     string
	Invalid   bool
	Code      formState
	Resend    formState
	VerifyTTL time.Duration
	NoMail    bool
}

func (h *Handler) verifyData(r *http.Request) verifyData {
	st := h.svc.Settings()
	return verifyData{layout: layout{Title: "Verify your email address"}, VerifyTTL: st.VerifyTTL, NoMail: !st.Mail}
}

// signedInVerifyData is verifyData with the layout of v, when v is
// signed in.
func (h *Handler) signedInVerifyData(r *http.Request, v *viewer) verifyData {
	d := h.verifyData(r)
	if v != nil {
		d.layout = h.layoutFor(v, d.Title, "account", nil)
		d.Code.Email = v.id.User.Email
	}
	return d
}

// verifyPage shows the button that uses a verification link's token (a
// link opened is not used up, for the same reason as recovery's), or the
// code form.
func (h *Handler) verifyPage(w http.ResponseWriter, r *http.Request) {
	v, _, err := h.whoIs(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := h.signedInVerifyData(r, v)
	d.Token = r.URL.Query().Get("token")
	if e := r.URL.Query().Get("email"); e != "" {
		d.Code.Email = e
	}
	d.Resend.Email = d.Code.Email
	d.Flash = h.takeFlash(w, r)
	h.render(w, r, http.StatusOK, "verify", d)
}

// verify uses a verification token or code.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	f := r.PostForm
	tok, email := f.Get("token"), strings.TrimSpace(f.Get("email"))
	u, err := h.svc.CompleteVerification(r.Context(), tok, email, f.Get("code"), h.client(r))
	v, _, verr := h.whoIs(w, r)
	if verr != nil {
		h.fail(w, r, verr)
		return
	}
	if err != nil {
		d := h.signedInVerifyData(r, v)
		fe := h.describe(r, err, "verify")
		if errors.Is(err, valet.ErrInvalidCode) {
			d.Invalid = true
			fe.message = "This link or code is wrong, used or expired. Enter the code of the latest mail, or ask for a new one."
			fe.field = ""
		}
		d.Code, d.Resend.Email = fieldState(email, fe), email
		h.renderForm(w, r, fe, "verify", d)
		return
	}
	if v != nil && v.id.User.ID == u.ID {
		h.redirect(w, r, "/account", "email-verified")
		return
	}
	h.redirect(w, r, "/?email="+url.QueryEscape(u.Email), "email-verified")
}

// resendVerification asks for a new verification mail for an address,
// from a browser that cannot sign in before it verifies: the answer is the
// same whether or not an account awaits it.
func (h *Handler) resendVerification(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	if err := h.svc.ResendVerification(r.Context(), email, h.client(r)); err != nil {
		d := h.verifyData(r)
		fe := h.describe(r, err, "verify")
		d.Resend = fieldState(email, fe)
		d.Code.Email = email
		h.renderForm(w, r, fe, "verify", d)
		return
	}
	h.redirect(w, r, "/verify?email="+url.QueryEscape(email), "verify-resent")
}

// requestVerification sends the signed-in user a new verification mail.
func (h *Handler) requestVerification(w http.ResponseWriter, r *http.Request) {
	v := h.signedIn(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	if err := h.svc.RequestVerification(r.Context(), v.id, h.client(r)); err != nil {
		fe := h.describe(r, err, "verify")
		if fe.status >= 500 {
			h.fail(w, r, err)
			return
		}
		h.renderAccount(w, r, v, fe.status, accountForms{Verify: formState{Error: fe.message}}, nil)
		return
	}
	h.redirect(w, r, "/account", "verify-sent")
}

// changeEmail starts an email change for the signed-in user.
func (h *Handler) changeEmail(w http.ResponseWriter, r *http.Request) {
	v := h.signedIn(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	next := strings.TrimSpace(r.PostForm.Get("new_email"))
	err := h.svc.RequestEmailChange(r.Context(), v.id, next, r.PostForm.Get("current_password"), h.client(r))
	if errors.Is(err, valet.ErrReauthRequired) {
		h.needRecent(w, r, v, err)
		return
	}
	if err != nil {
		fe := h.describe(r, err, "email")
		if fe.status >= 500 && fe.status != http.StatusServiceUnavailable {
			h.fail(w, r, err)
			return
		}
		h.renderAccount(w, r, v, fe.status, accountForms{Email: fieldState(next, fe)}, nil)
		return
	}
	h.redirect(w, r, "/account", "email-change-sent")
}

// fieldState is a form shown again after fe: what was typed in its email
// field, and fe's message on its field or on the whole form.
func fieldState(email string, fe formErr) formState {
	f := formState{Email: email, Error: fe.message, Fields: map[string]string{}}
	if fe.field != "" {
		f.Fields[fe.field], f.Error = fe.message, ""
	}
	return f
}
