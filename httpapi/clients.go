package httpapi

import (
	"net/http"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/oidc"
)

// adminClientRoutes registers the administration of the OpenID Connect
// clients on mux.
func (a *API) adminClientRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/admin/clients", a.role(a.adminListClients, "admin"))
	mux.Handle("POST /v1/admin/clients", a.role(a.adminCreateClient, "admin"))
	mux.Handle("DELETE /v1/admin/clients/{id}", a.role(a.adminDeleteClient, "admin"))
}

// clientJSON is a valet.Client as the API shows it: never its secret's
// hash.
type clientJSON struct {
	ID                     string    `json:"client_id"`
	Name                   string    `json:"name"`
	Public                 bool      `json:"public"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string    `json:"backchannel_logout_uri,omitempty"`
	Scopes                 []string  `json:"scopes"`
	SkipConsent            bool      `json:"skip_consent"`
	IDTokenAlg             string    `json:"id_token_signed_response_alg,omitempty"`
	CreatedAt              time.Time `json:"created_at"`
}

func toClientJSON(c valet.Client) clientJSON {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return clientJSON{
		ID: c.ID, Name: c.Name, Public: c.Public(), RedirectURIs: orEmpty(c.RedirectURIs),
		PostLogoutRedirectURIs: orEmpty(c.PostLogoutRedirectURIs), BackchannelLogoutURI: c.BackchannelLogoutURI,
		Scopes: orEmpty(c.Scopes), SkipConsent: c.SkipConsent, IDTokenAlg: c.IDTokenAlg, CreatedAt: c.CreatedAt.UTC(),
	}
}

// clients returns the client store, or answers not_found itself when the
// server keeps none.
func (a *API) clients(w http.ResponseWriter, r *http.Request) (valet.ClientStore, bool) {
	if a.cfg.Clients == nil {
		writeError(w, r, a.log, valet.Errorf(valet.ErrNotFound, "This server keeps no OpenID Connect clients."))
		return nil, false
	}
	return a.cfg.Clients, true
}

func (a *API) adminListClients(w http.ResponseWriter, r *http.Request) {
	store, ok := a.clients(w, r)
	if !ok {
		return
	}
	cs, err := store.Clients(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := make([]clientJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toClientJSON(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": out})
}

// adminCreateClient creates a client; its secret is in this answer only.
func (a *API) adminCreateClient(w http.ResponseWriter, r *http.Request) {
	store, ok := a.clients(w, r)
	if !ok {
		return
	}
	var in oidc.ClientSpec
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	c, secret, err := oidc.NewClient(r.Context(), store, in, time.Now())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.log.Info("oidc client created", "client_id", c.ID, "name", c.Name, "public", c.Public(), "ip", a.cfg.ClientIP(r))
	out := map[string]any{"client_id": c.ID, "client": toClientJSON(c)}
	if secret != "" {
		out["client_secret"] = secret
	}
	writeJSON(w, http.StatusCreated, out)
}

func (a *API) adminDeleteClient(w http.ResponseWriter, r *http.Request) {
	store, ok := a.clients(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := store.DeleteClient(r.Context(), id); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.log.Info("oidc client deleted", "client_id", id, "ip", a.cfg.ClientIP(r))
	w.WriteHeader(http.StatusNoContent)
}
