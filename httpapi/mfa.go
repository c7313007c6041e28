package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
)

// MFA is what the API and the pages do with second factors and passkeys.
// *auth.Service implements it.
type MFA interface {
	LoginMFA(ctx context.Context, mfaToken, method, code string, credential []byte, c auth.Client) (*auth.Grant, error)
	Factors(ctx context.Context, userID string) ([]auth.FactorInfo, int, error)
	FactorKinds(ctx context.Context, userID string) ([]valet.FactorKind, error)
	BeginTOTP(ctx context.Context, id *valet.Identity, name string, c auth.Client) (auth.TOTPEnrolment, error)
	ConfirmTOTP(ctx context.Context, id *valet.Identity, factorID, code string, c auth.Client) ([]string, error)
	NewRecoveryCodes(ctx context.Context, id *valet.Identity, c auth.Client) ([]string, error)
	DeleteFactor(ctx context.Context, id *valet.Identity, factorID string, c auth.Client) error
	ResetFactors(ctx context.Context, userID string, c auth.Client) (auth.Withdrawal, error)
	RequireRecent(ctx context.Context, id *valet.Identity) error
	ReauthMethods(ctx context.Context, userID string) ([]string, error)
	Reauthenticate(ctx context.Context, id *valet.Identity, method, secret string, credential []byte, c auth.Client) error
	BeginPasskeyLogin(ctx context.Context, mfaToken string, c auth.Client) ([]byte, error)
	BeginPasskeyReauth(ctx context.Context, id *valet.Identity) ([]byte, error)
	FinishPasskeyLogin(ctx context.Context, response []byte, mode valet.Mode, c auth.Client) (*auth.Grant, error)
	BeginPasskeyRegistration(ctx context.Context, id *valet.Identity, name string) ([]byte, error)
	FinishPasskeyRegistration(ctx context.Context, id *valet.Identity, response []byte, c auth.Client) (valet.Factor, []string, error)
}

// mfaRequiredBody is the answer to a right password of an account with a
// second factor.
type mfaRequiredBody struct {
	Error    string   `json:"error"`
	Message  string   `json:"message"`
	MFAToken string   `json:"mfa_token"`
	Methods  []string `json:"methods"`
}

// writeLoginError answers a failed login step, the second factor asked
// for included.
func (a *API) writeLoginError(w http.ResponseWriter, r *http.Request, err error) {
	var need *auth.MFARequiredError
	if errors.As(err, &need) {
		d := valet.Describe(err)
		noCompress(w)
		writeJSON(w, d.Status, mfaRequiredBody{Error: d.Code, Message: d.Message, MFAToken: need.Token, Methods: need.Methods})
		return
	}
	writeError(w, r, a.log, err)
}

// finishLogin hands out what a login granted: the cookie in session mode.
func (a *API) finishLogin(w http.ResponseWriter, r *http.Request, g *auth.Grant) {
	if g.Mode == valet.ModeSession {
		// The old session in this browser, if any, ends: one login, one ticket.
		if v, ok := a.cfg.Cookie.SessionValue(r); ok {
			if id, err := a.svc.IdentifyCookie(r.Context(), v); err == nil {
				_ = a.svc.Logout(r.Context(), id, a.client(r))
			}
		}
		a.setSessionCookie(w, r, g.Cookie, g.Session.ExpiresAt)
	}
	writeGrant(w, g)
}

type loginMFAIn struct {
	MFAToken   string          `json:"mfa_token" valet:"required"`
	Method     string          `json:"method" valet:"required"`
	Code       string          `json:"code"`
	Credential json.RawMessage `json:"credential"`
}

func (a *API) loginMFA(w http.ResponseWriter, r *http.Request) {
	var in loginMFAIn
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	g, err := a.svc.LoginMFA(r.Context(), in.MFAToken, in.Method, in.Code, in.Credential, a.client(r))
	a.metrics.login("mfa", g, err)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.finishLogin(w, r, g)
}

type factorJSON struct {
	ID         string  `json:"id"`
	Kind       string  `json:"kind"`
	Name       string  `json:"name"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
	Synced     bool    `json:"synced,omitempty"`
	BackedUp   bool    `json:"backed_up,omitempty"`
}

func (a *API) listFactors(w http.ResponseWriter, r *http.Request) {
	id := valet.IdentityFrom(r.Context())
	fs, left, err := a.svc.Factors(r.Context(), id.User.ID)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := make([]factorJSON, 0, len(fs))
	for _, f := range fs {
		j := factorJSON{ID: f.ID, Kind: string(f.Kind), Name: f.Name, CreatedAt: rfc3339(f.CreatedAt), Synced: f.Synced, BackedUp: f.BackedUp}
		if !f.LastUsedAt.IsZero() {
			t := rfc3339(f.LastUsedAt)
			j.LastUsedAt = &t
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"factors": out, "recovery_codes_left": left})
}

func (a *API) beginTOTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeOptionalJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	e, err := a.svc.BeginTOTP(r.Context(), valet.IdentityFrom(r.Context()), in.Name, a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	noCompress(w)
	writeJSON(w, http.StatusOK, map[string]string{
		"id": e.FactorID, "secret": e.Secret, "otpauth_url": e.URL,
		"qr_png": "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QR),
	})
}

func (a *API) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID   string `json:"id" valet:"required"`
		Code string `json:"code" valet:"required"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	codes, err := a.svc.ConfirmTOTP(r.Context(), valet.IdentityFrom(r.Context()), in.ID, in.Code, a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	noCompress(w)
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
}

func (a *API) newRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	codes, err := a.svc.NewRecoveryCodes(r.Context(), valet.IdentityFrom(r.Context()), a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	noCompress(w)
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
}

func (a *API) deleteFactor(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteFactor(r.Context(), valet.IdentityFrom(r.Context()), r.PathValue("id"), a.client(r)); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type reauthIn struct {
	Method     string          `json:"method" valet:"required"`
	Password   string          `json:"password"`
	Code       string          `json:"code"`
	Credential json.RawMessage `json:"credential"`
}

func (a *API) reauth(w http.ResponseWriter, r *http.Request) {
	var in reauthIn
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	secret := in.Code
	if in.Method == auth.MethodPassword {
		secret = in.Password
	}
	if err := a.svc.Reauthenticate(r.Context(), valet.IdentityFrom(r.Context()), in.Method, secret, in.Credential, a.client(r)); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeOptions answers the begin step of a WebAuthn ceremony.
func writeOptions(w http.ResponseWriter, opts []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	noCompress(w)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(opts)
}

func (a *API) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		MFAToken string `json:"mfa_token"`
		// Purpose "reauth" asks for a challenge that proves again who a
		// signed-in caller is.
		Purpose string `json:"purpose"`
	}
	if err := decodeOptionalJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	var (
		opts []byte
		err  error
	)
	switch in.Purpose {
	case "", "login":
		opts, err = a.svc.BeginPasskeyLogin(r.Context(), in.MFAToken, a.client(r))
	case "reauth":
		id, ierr := a.Identify(r)
		if ierr != nil {
			writeError(w, r, a.log, ierr)
			return
		}
		opts, err = a.svc.BeginPasskeyReauth(r.Context(), id)
	default:
		err = valet.Errorf(valet.ErrInvalidRequest, "The purpose must be login or reauth.")
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeOptions(w, opts)
}

func (a *API) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Credential json.RawMessage `json:"credential" valet:"required"`
		Mode       string          `json:"mode"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	g, err := a.svc.FinishPasskeyLogin(r.Context(), in.Credential, valet.Mode(in.Mode), a.client(r))
	a.metrics.login(in.Mode, g, err)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.finishLogin(w, r, g)
}

func (a *API) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeOptionalJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	opts, err := a.svc.BeginPasskeyRegistration(r.Context(), valet.IdentityFrom(r.Context()), in.Name)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeOptions(w, opts)
}

func (a *API) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Credential json.RawMessage `json:"credential" valet:"required"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	f, codes, err := a.svc.FinishPasskeyRegistration(r.Context(), valet.IdentityFrom(r.Context()), in.Credential, a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := map[string]any{"factor": factorJSON{ID: f.ID, Kind: string(f.Kind), Name: f.Name, CreatedAt: rfc3339(f.CreatedAt)}}
	if codes != nil {
		out["recovery_codes"] = codes
	}
	noCompress(w)
	writeJSON(w, http.StatusOK, out)
}

func (a *API) adminResetFactors(w http.ResponseWriter, r *http.Request) {
	wd, err := a.svc.ResetFactors(r.Context(), r.PathValue("id"), a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	tokensUntil(w, wd)
	w.WriteHeader(http.StatusNoContent)
}

// errMustEnrol refuses a caller that the server's policy sends to add a
// second factor first.
func errMustEnrol() error {
	return valet.Errorf(valet.ErrForbidden, "This server requires a second factor: add one (POST /v1/mfa/totp or /v1/webauthn/register/begin) first.")
}

// needsRecent runs h for a caller who signed in within the reauth window.
func (a *API) needsRecent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.svc.RequireRecent(r.Context(), valet.IdentityFrom(r.Context())); err != nil {
			writeError(w, r, a.log, err)
			return
		}
		h(w, r)
	}
}
