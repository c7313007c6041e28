package httpapi

import (
	"net/http"
	"strconv"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
)

func (a *API) adminListUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if offset < 0 || limit < 0 || limit > 500 {
		writeError(w, r, a.log, valet.Errorf(valet.ErrInvalidRequest, "offset must be 0 or more and limit between 1 and 500."))
		return
	}
	users, total, err := a.svc.ListUsers(r.Context(), valet.UserQuery{Search: q.Get("q"), Offset: offset, Limit: limit})
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		out = append(out, toUserJSON(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out, "total": total})
}

func (a *API) adminCreateUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string   `json:"email"`
		Password string   `json:"password"`
		Roles    []string `json:"roles"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	u, err := a.svc.CreateUser(r.Context(), in.Email, in.Password, in.Roles)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": toUserJSON(u)})
}

func (a *API) adminPatchUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Roles    *[]string `json:"roles"`
		Disabled *bool     `json:"disabled"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	u, err := a.svc.UpdateUser(r.Context(), r.PathValue("id"), auth.UserPatch{Roles: in.Roles, Disabled: in.Disabled}, a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": toUserJSON(u)})
}

func (a *API) adminDeleteUser(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteUser(r.Context(), r.PathValue("id"), a.client(r)); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) adminEndSessions(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.EndUserSessions(r.Context(), r.PathValue("id"), a.client(r)); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
