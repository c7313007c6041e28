package httpapi

import (
	"net/http"

	"github.com/valetauth/valet"
)

// requestVerification sends the caller a new verification mail.
func (a *API) requestVerification(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		var in struct{}
		if err := decodeJSON(w, r, &in); err != nil {
			writeError(w, r, a.log, err)
			return
		}
	}
	if err := a.svc.RequestVerification(r.Context(), valet.IdentityFrom(r.Context()), a.client(r)); err != nil {
		a.metrics.throttle("mail", err)
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// codeIn names a ticket: by the token of its link, or by an email and the
// code sent to it.
type codeIn struct {
	Token string `json:"token"`
	Email string `json:"email"`
	Code  string `json:"code"`
}

func (a *API) completeVerification(w http.ResponseWriter, r *http.Request) {
	var in codeIn
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if _, err := a.svc.CompleteVerification(r.Context(), in.Token, in.Email, in.Code, a.client(r)); err != nil {
		a.metrics.throttle("code", err)
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// requestRecovery answers 202 whether or not an account has the email:
// the engine spends the same time either way.
func (a *API) requestRecovery(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email" valet:"required"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if err := a.svc.RequestRecovery(r.Context(), in.Email, a.client(r)); err != nil {
		a.metrics.throttle("mail", err)
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (a *API) completeRecovery(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token       string `json:"token"`
		Email       string `json:"email"`
		Code        string `json:"code"`
		NewPassword string `json:"new_password" valet:"required"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	_, wd, err := a.svc.CompleteRecovery(r.Context(), in.Token, in.Email, in.Code, in.NewPassword, a.client(r))
	if err != nil {
		a.metrics.throttle("code", err)
		writeError(w, r, a.log, err)
		return
	}
	tokensUntil(w, wd)
	// Every device session of the user has ended, this browser's too if it
	// had one.
	a.cfg.Cookie.ClearAll(w, r)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) changeEmail(w http.ResponseWriter, r *http.Request) {
	var in struct {
		NewEmail        string `json:"new_email" valet:"required"`
		CurrentPassword string `json:"current_password" valet:"required"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	id := valet.IdentityFrom(r.Context())
	if err := a.svc.RequestEmailChange(r.Context(), id, in.NewEmail, in.CurrentPassword, a.client(r)); err != nil {
		a.metrics.throttle("email", err)
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
