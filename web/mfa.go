package web

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
)

// mfaData is the second step of a sign-in: the password was right and the
// account has a second factor. The forms carry the attempt's mfa_token,
// where to go after, and the methods the account has, which only decide
// what the page offers: the engine checks the factor.
type mfaData struct {
	layout
	Token    string
	ReturnTo string
	// Mode is the mode asked for on the sign-in page ("" for the
	// default), kept for a new start; the attempt itself holds it.
	Mode    string
	Methods string
	// TOTP, Passkey and Recovery are the methods offered.
	TOTP, Passkey, Recovery bool
	// Code and RecoveryCode are the forms of a TOTP code and a recovery
	// code; RecoveryOpen shows the latter open.
	Code, RecoveryCode formState
	RecoveryOpen       bool
	// Error is about the step as a whole, PasskeyError about the passkey.
	Error, PasskeyError string
	// Notice says how the person got here, as after a password reset.
	Notice string
	// Again is the sign-in page to start again from.
	Again string
}

// methodOrder is the order in which the step page offers the methods.
var methodOrder = []string{auth.MethodTOTP, auth.MethodWebAuthn, auth.MethodRecoveryCode}

func (h *Handler) mfaData(token string, methods []string, returnTo, mode string) mfaData {
	d := mfaData{layout: layout{Title: "Your second factor"}, Token: token, ReturnTo: returnTo, Mode: mode, Again: signinAgain(returnTo, mode)}
	var known []string
	for _, m := range methodOrder {
		if slices.Contains(methods, m) {
			known = append(known, m)
		}
	}
	if len(known) == 0 {
		// What the form carried was changed: offer what every account
		// with a factor may have.
		known = []string{auth.MethodTOTP, auth.MethodRecoveryCode}
	}
	d.Methods = strings.Join(known, ",")
	d.TOTP = slices.Contains(known, auth.MethodTOTP)
	d.Passkey = slices.Contains(known, auth.MethodWebAuthn) && h.passkeys
	d.Recovery = slices.Contains(known, auth.MethodRecoveryCode)
	// With neither an app nor a passkey to offer, the recovery code is
	// the only way: its form is shown open.
	d.RecoveryOpen = !d.TOTP && !d.Passkey
	if d.TOTP {
		d.Code.Focus = "code"
	}
	return d
}

// chosenMode returns the mode a form names when it is one, else "".
func chosenMode(s string) string {
	if m, err := valet.ParseMode(s); err == nil && s != "" {
		return string(m)
	}
	return ""
}

// signinAgain is the sign-in page with the return target and mode of an
// attempt that has to start again.
func signinAgain(returnTo, mode string) string {
	q := url.Values{}
	if returnTo != "" {
		q.Set("return_to", returnTo)
	}
	if mode != "" {
		q.Set("mode", mode)
	}
	if len(q) == 0 {
		return "/"
	}
	return "/?" + q.Encode()
}

// askSecondFactor shows the step page of a login that Login answered with
// need.
func (h *Handler) askSecondFactor(w http.ResponseWriter, r *http.Request, need *auth.MFARequiredError, returnTo, mode, notice string) {
	d := h.mfaData(need.Token, need.Methods, returnTo, mode)
	d.Notice = notice
	h.allowFormRedirect(w, returnTo)
	h.render(w, r, http.StatusOK, "mfa", d)
}

// signinMFA finishes a login with its second factor: a TOTP code, a
// recovery code, or a passkey's answer (credential, from the page's
// script). A wrong factor shows the step again, the attempt kept; an
// attempt that is spent, expired or out of tries sends the browser to
// sign in again.
func (h *Handler) signinMFA(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	f := r.PostForm
	tok, method := f.Get("mfa_token"), f.Get("method")
	returnTo := h.vetReturn(returnParam(f), r)
	mode := chosenMode(f.Get("mode"))
	var cred []byte
	if c := f.Get("credential"); c != "" {
		cred = []byte(c)
	}
	g, err := h.svc.LoginMFA(r.Context(), tok, method, f.Get("code"), cred, h.client(r))
	if err == nil {
		// One browser, one sign-in, as with a password alone.
		_ = h.endBrowserLogin(r)
		h.setGrantCookies(w, r, g)
		h.redirect(w, r, orDefault(returnTo), "")
		return
	}
	if errors.Is(err, valet.ErrInvalidGrant) {
		h.redirect(w, r, signinAgain(returnTo, mode), "mfa-expired")
		return
	}
	d := h.mfaData(tok, strings.Split(f.Get("methods"), ","), returnTo, mode)
	fe := h.describe(r, err, "mfa")
	wrong := errors.Is(err, valet.ErrInvalidCode)
	d.Code.Focus = ""
	switch {
	case wrong && method == auth.MethodTOTP:
		fe.message = "This code is not right. Enter the code your app shows now."
		d.Code = fieldState("", fe)
	case wrong && method == auth.MethodRecoveryCode:
		fe.message = "This recovery code is not right, or was used already."
		d.RecoveryCode, d.RecoveryOpen = fieldState("", fe), true
	case wrong && method == auth.MethodWebAuthn:
		d.PasskeyError = valet.Message(err) + " Try again, or use another way below."
	default:
		d.Error = fe.message
	}
	h.allowFormRedirect(w, returnTo)
	h.renderForm(w, r, fe, "mfa", d)
}

// signinPasskey signs in with a passkey alone: the answer (credential) to
// a challenge the page's script got from POST /v1/webauthn/login/begin,
// from the button or from the autofill of the email field.
func (h *Handler) signinPasskey(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	f := r.PostForm
	returnTo := h.vetReturn(returnParam(f), r)
	mode, err := valet.ParseMode(f.Get("mode"))
	if f.Get("mode") == "" {
		mode, err = h.svc.Settings().Mode, nil
	}
	var g *auth.Grant
	switch cred := f.Get("credential"); {
	case err != nil:
	case cred == "":
		err = valet.Errorf(valet.ErrInvalidRequest, "Signing in with a passkey needs JavaScript in this browser. Sign in with your password instead.")
	default:
		g, err = h.svc.FinishPasskeyLogin(r.Context(), []byte(cred), mode, h.client(r))
	}
	if err == nil {
		_ = h.endBrowserLogin(r)
		h.setGrantCookies(w, r, g)
		h.redirect(w, r, orDefault(returnTo), "")
		return
	}
	fe := h.describe(r, err, "passkey")
	if errors.Is(err, valet.ErrInvalidCode) {
		fe.message = valet.Message(err) + " Try again, or sign in with your password."
	}
	d := signinData{layout: layout{Title: "Sign in"}, ReturnTo: returnTo, Modes: h.modes(mode), Mail: h.svc.Settings().Mail,
		Unverified: errors.Is(err, valet.ErrEmailUnverified), ModeChosen: mode != "" && mode != h.svc.Settings().Mode,
		Passkeys: h.passkeys, PasskeyFailed: true}
	d.SignIn = formState{Error: fe.message, Fields: map[string]string{}}
	h.allowFormRedirect(w, returnTo)
	h.renderForm(w, r, fe, "signin", d)
}

// factorView is a second factor as the account page lists it.
type factorView struct {
	auth.FactorInfo
	// Kind says what it is in words.
	KindText string
}

// mfaSection is the part of the account page about second factors and
// passkeys.
type mfaSection struct {
	Factors   []factorView
	CodesLeft int
	// SignedInWith says in words how this browser signed in, and AuthTime
	// when the user last proved who they are.
	SignedInWith string
	AuthTime     time.Time
	Passkeys     bool
	TOTP         formState
	Passkey      formState
	Error        string
}

func kindText(f auth.FactorInfo) string {
	if f.Kind == valet.FactorTOTP {
		return "Authenticator app"
	}
	if f.Synced {
		return "Passkey"
	}
	return "Passkey or security key"
}

// mfaSection returns the section of v's factors, or nil when the server
// keeps none.
func (h *Handler) mfaSection(r *http.Request, v *viewer, forms accountForms) (*mfaSection, error) {
	list, left, err := h.svc.Factors(r.Context(), v.id.User.ID)
	if errors.Is(err, valet.ErrInvalidRequest) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := &mfaSection{CodesLeft: left, SignedInWith: amrText(v.id.AMR), AuthTime: v.id.AuthTime, Passkeys: h.passkeys,
		TOTP: forms.TOTP, Passkey: forms.Passkey, Error: forms.MFA}
	for _, f := range list {
		s.Factors = append(s.Factors, factorView{FactorInfo: f, KindText: kindText(f)})
	}
	return s, nil
}

// amrText says the methods of a sign-in (RFC 8176 amr values) in words:
// "password and one-time code". It is "" when none were recorded.
func amrText(amr []string) string {
	verified := slices.Contains(amr, valet.AMRUser)
	var parts []string
	for _, m := range amr {
		var p string
		switch m {
		case valet.AMRPassword:
			p = "password"
		case valet.AMROTP:
			p = "one-time code (authenticator app or recovery code)"
		case valet.AMRHardwareKey:
			p = "device-bound passkey or security key"
		case valet.AMRSoftwareKey:
			p = "synced passkey"
		default:
			continue
		}
		if verified && (m == valet.AMRHardwareKey || m == valet.AMRSoftwareKey) {
			p += " unlocked with a PIN or biometric"
		}
		if !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	return wordList(parts)
}

// wordList joins words as a sentence does: "a", "a and b", "a, b and c".
func wordList(w []string) string {
	switch len(w) {
	case 0:
		return ""
	case 1:
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}

// reauthView is the prompt for a proof of who the user is, with the ways
// the account has.
type reauthView struct {
	Password, TOTP, Passkey bool
	Form                    formState
	PasskeyError            string
	Window                  time.Duration
	Email                   string
	// ReturnTo is where the account page leads once a factor is added.
	ReturnTo string
	// NoWay says that none of the account's ways can be used here.
	NoWay bool
}

func (h *Handler) reauthView(r *http.Request, v *viewer, f formState) (*reauthView, error) {
	methods, err := h.svc.ReauthMethods(r.Context(), v.id.User.ID)
	if err != nil {
		return nil, err
	}
	rv := &reauthView{Form: f, Window: h.svc.ReauthWindow(), Email: v.id.User.Email,
		Password: slices.Contains(methods, auth.MethodPassword),
		TOTP:     slices.Contains(methods, auth.MethodTOTP),
		Passkey:  slices.Contains(methods, auth.MethodWebAuthn) && h.passkeys,
	}
	if f.Fields != nil {
		rv.PasskeyError = f.Fields["credential"]
	}
	// Only a passkey would do, and this server no longer takes them: a new
	// sign-in, with a recovery code, is the way left.
	rv.NoWay = !rv.Password && !rv.TOTP && !rv.Passkey
	if len(f.Fields) == 0 && f.Error == "" {
		// The prompt is what the person has to do next.
		switch {
		case rv.Password:
			rv.Form.Focus = "password"
		case rv.TOTP:
			rv.Form.Focus = "code"
		}
	}
	return rv, nil
}

// needRecent answers a change refused for err: when the sign-in is too old
// (valet.ErrReauthRequired), the account page asking for a proof of who
// the user is, after which the change can be made again; else the error.
func (h *Handler) needRecent(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	if !errors.Is(err, valet.ErrReauthRequired) {
		h.fail(w, r, err)
		return
	}
	h.renderAccount(w, r, v, http.StatusForbidden, accountForms{Reauth: &formState{}}, nil)
}

// reauth checks a proof of who the user is (the password of an account
// without a second factor, else a TOTP code or a passkey's answer) and
// brings the user back to the account page to make their change again.
func (h *Handler) reauth(w http.ResponseWriter, r *http.Request) {
	v := h.enrolling(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	f := r.PostForm
	method := f.Get("method")
	secret := f.Get("code")
	if method == auth.MethodPassword {
		secret = f.Get("password")
	}
	var cred []byte
	if c := f.Get("credential"); c != "" {
		cred = []byte(c)
	}
	err := h.svc.Reauthenticate(r.Context(), v.id, method, secret, cred, h.client(r))
	if err == nil {
		h.renew(w, r, v)
		target := "/account"
		if rt := h.vetReturn(returnParam(f), r); rt != "" {
			target += "?rd=" + url.QueryEscape(rt)
		}
		h.redirect(w, r, target, "reauth-done")
		return
	}
	fe := h.describe(r, err, "reauth")
	form := formState{Fields: map[string]string{}}
	switch {
	case errors.Is(err, valet.ErrInvalidCredentials):
		form.Fields["password"] = "Your password is not right."
	case errors.Is(err, valet.ErrInvalidCode) && method == auth.MethodWebAuthn:
		form.Fields["credential"] = valet.Message(err) + " Try again."
	case errors.Is(err, valet.ErrInvalidCode):
		form.Fields["code"] = "This code is not right. Enter the code your app shows now."
	case fe.status >= 500 && fe.status != http.StatusServiceUnavailable:
		h.fail(w, r, err)
		return
	default:
		form.Error = fe.message
	}
	if fe.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(fe.retryAfter))
	}
	h.renderAccount(w, r, v, fe.status, accountForms{Reauth: &form}, nil)
}

// totpData is the page that adds an authenticator app: its QR code and
// secret, and the form of its first code.
type totpData struct {
	layout
	FactorID string
	// OTPAuth is the otpauth:// URL, which the form carries so that the
	// page can be shown again after a wrong code.
	OTPAuth  string
	QR, Link template.URL
	Secret   string
	Code     formState
	ReturnTo string
}

// maxOTPAuth bounds the otpauth:// URL a form may carry back.
const maxOTPAuth = 1024

// totpPage builds the page of factorID whose key otpauth is, or reports
// that otpauth is not one.
func (h *Handler) totpPage(v *viewer, factorID, otpauth string, qr []byte, returnTo string) (totpData, bool) {
	if len(otpauth) > maxOTPAuth || !strings.HasPrefix(otpauth, "otpauth://totp/") {
		return totpData{}, false
	}
	k, err := otp.NewKeyFromURL(otpauth)
	if err != nil || k.Secret() == "" {
		return totpData{}, false
	}
	if qr == nil {
		img, err := k.Image(240, 240)
		if err != nil {
			return totpData{}, false
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			return totpData{}, false
		}
		qr = b.Bytes()
	}
	d := totpData{
		layout:   h.layoutFor(v, "Add an authenticator app", "account", nil),
		FactorID: factorID, OTPAuth: otpauth, ReturnTo: returnTo,
		// Both are built here from a key that parsed as an
		// otpauth://totp/ URL (the engine's, or the form's copy of it), so
		// no other scheme gets in: a data: image, and the otpauth: link
		// that apps on the same device open.
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(qr)),
		Link:   template.URL(k.URL()),
		Secret: groups(k.Secret(), 4),
	}
	return d, true
}

// groups writes s in groups of n characters, for typing.
func groups(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}

// beginTOTP starts adding an authenticator app and shows its QR code.
func (h *Handler) beginTOTP(w http.ResponseWriter, r *http.Request) {
	v := h.enrolling(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	name := r.PostForm.Get("name")
	e, err := h.svc.BeginTOTP(r.Context(), v.id, name, h.client(r))
	if err != nil {
		h.factorFailed(w, r, v, err, "totp")
		return
	}
	returnTo := h.vetReturn(returnParam(r.PostForm), r)
	d, ok := h.totpPage(v, e.FactorID, e.URL, e.QR, returnTo)
	if !ok {
		h.fail(w, r, errors.New("web: the engine's otpauth URL does not parse"))
		return
	}
	h.allowFormRedirect(w, returnTo)
	h.render(w, r, http.StatusOK, "totp", d)
}

// factorFailed shows on the account page why a change to the second
// factors was refused. form is the form it came from ("totp", "passkey",
// or "" for the section); a request the engine refuses from the
// authenticator app's form is about its one field, the name.
func (h *Handler) factorFailed(w http.ResponseWriter, r *http.Request, v *viewer, err error, form string) {
	if errors.Is(err, valet.ErrReauthRequired) {
		h.needRecent(w, r, v, err)
		return
	}
	fe := h.describe(r, err, "factor")
	if fe.status >= 500 && fe.status != http.StatusServiceUnavailable {
		h.fail(w, r, err)
		return
	}
	fe.field = ""
	if errors.Is(err, valet.ErrInvalidCode) {
		// A passkey refused: the engine says why, in words.
		fe.message = valet.Message(err)
	}
	if form == "totp" && errors.Is(err, valet.ErrInvalidRequest) {
		fe.field = "name"
	}
	var forms accountForms
	switch form {
	case "totp":
		forms.TOTP = fieldState("", fe)
	case "passkey":
		forms.Passkey = fieldState("", fe)
	default:
		forms.MFA = fe.message
	}
	if fe.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(fe.retryAfter))
	}
	h.renderAccount(w, r, v, fe.status, forms, nil)
}

// confirmTOTP takes the first code of a new authenticator app and shows
// the account's recovery codes.
func (h *Handler) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	v := h.enrolling(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	f := r.PostForm
	factorID, otpauth := f.Get("factor_id"), f.Get("otpauth")
	returnTo := h.vetReturn(returnParam(f), r)
	codes, err := h.svc.ConfirmTOTP(r.Context(), v.id, factorID, f.Get("code"), h.client(r))
	switch {
	case err == nil:
		h.renew(w, r, v)
		h.showCodes(w, r, v, codes, "Your authenticator app is added", returnTo)
		return
	case errors.Is(err, valet.ErrReauthRequired):
		h.needRecent(w, r, v, err)
		return
	case errors.Is(err, valet.ErrNotFound):
		h.redirect(w, r, "/account", "totp-gone")
		return
	}
	fe := h.describe(r, err, "totp")
	if fe.status >= 500 && fe.status != http.StatusServiceUnavailable {
		h.fail(w, r, err)
		return
	}
	d, ok := h.totpPage(v, factorID, otpauth, nil, returnTo)
	if !ok {
		// The form lost the key it showed: start again.
		h.redirect(w, r, "/account", "totp-gone")
		return
	}
	if errors.Is(err, valet.ErrInvalidCode) {
		fe.message = "This code is not right. Enter the code your app shows now; if it keeps failing, check that your phone's clock is set automatically."
	}
	d.Code = fieldState("", fe)
	h.allowFormRedirect(w, returnTo)
	h.renderForm(w, r, fe, "totp", d)
}

// codesData is the page that shows recovery codes, once.
type codesData struct {
	layout
	Heading string
	Codes   []string
	// Continue is where the page leads after.
	Continue string
}

// showCodes shows recovery codes under heading, leading on to returnTo or
// the account page.
func (h *Handler) showCodes(w http.ResponseWriter, r *http.Request, v *viewer, codes []string, heading, returnTo string) {
	d := codesData{layout: h.layoutFor(v, "Save your recovery codes", "account", nil), Heading: heading, Codes: codes,
		Continue: orDefault(returnTo)}
	h.allowFormRedirect(w, returnTo)
	h.render(w, r, http.StatusOK, "codes", d)
}

// newRecoveryCodes replaces the account's recovery codes.
func (h *Handler) newRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	v := h.enrolling(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	codes, err := h.svc.NewRecoveryCodes(r.Context(), v.id, h.client(r))
	if err != nil {
		h.factorFailed(w, r, v, err, "")
		return
	}
	h.showCodes(w, r, v, codes, "Your new recovery codes", "")
}

// deleteFactor removes one of the account's second factors.
func (h *Handler) deleteFactor(w http.ResponseWriter, r *http.Request) {
	v := h.enrolling(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	err := h.svc.DeleteFactor(r.Context(), v.id, r.PathValue("id"), h.client(r))
	switch {
	case err == nil:
		h.redirect(w, r, "/account", "factor-removed")
	case errors.Is(err, valet.ErrNotFound):
		h.redirect(w, r, "/account", "factor-gone")
	default:
		h.factorFailed(w, r, v, err, "")
	}
}

// addPasskey stores a new passkey: the browser's answer (credential) to
// the options the page's script got from POST /v1/webauthn/register/begin.
// The account's first second factor comes with recovery codes, shown once.
func (h *Handler) addPasskey(w http.ResponseWriter, r *http.Request) {
	v := h.enrolling(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	returnTo := h.vetReturn(returnParam(r.PostForm), r)
	cred := r.PostForm.Get("credential")
	if cred == "" {
		h.factorFailed(w, r, v, valet.Errorf(valet.ErrInvalidRequest, "Adding a passkey needs JavaScript in this browser."), "passkey")
		return
	}
	_, codes, err := h.svc.FinishPasskeyRegistration(r.Context(), v.id, []byte(cred), h.client(r))
	if err != nil {
		h.factorFailed(w, r, v, err, "passkey")
		return
	}
	h.renew(w, r, v)
	if codes != nil {
		h.showCodes(w, r, v, codes, "Your passkey is added", returnTo)
		return
	}
	if returnTo != "" {
		h.redirect(w, r, returnTo, "")
		return
	}
	h.redirect(w, r, "/account", "passkey-added")
}
