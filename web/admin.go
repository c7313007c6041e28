package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
)

// userRow is one user on the admin page.
type userRow struct {
	ID        string
	Email     string
	Roles     []string
	RolesText string
	Disabled  bool
	CreatedAt time.Time
	// Self marks the administrator's own account, which cannot be disabled here.
	Self bool
	// Error is a failed change to this user, shown on its row.
	Error string
	// Factors says which kinds of second factor the user has, in words;
	// "" for none.
	Factors string
}

type adminData struct {
	layout
	Query                string
	Page, Pages          int
	Total, From, To      int
	Users                []userRow
	PrevURL, NextURL     string
	Error                string
	PageSize, MaxPerPage int
}

// adminViewer returns the viewer of r when they have the role admin, or
// answers the request itself and returns nil.
func (h *Handler) adminViewer(w http.ResponseWriter, r *http.Request) *viewer {
	v := h.signedIn(w, r)
	if v == nil {
		return nil
	}
	if !v.id.User.HasRole("admin") {
		h.render(w, r, http.StatusForbidden, "error", errorPage{
			layout:  h.layoutFor(v, "Not allowed", "", nil),
			Heading: "Not allowed", Message: "This page is for administrators. Your account does not have the role admin.",
		})
		return nil
	}
	return v
}

// listParams reads the search and page number of the admin list.
func listParams(vals url.Values) (q string, page int) {
	// Emails are stored lower-cased, so a search for "Ada" finds ada@.
	q = strings.ToLower(strings.TrimSpace(vals.Get("q")))
	if len(q) > 254 {
		q = q[:254]
	}
	page, err := strconv.Atoi(vals.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	return q, min(page, 1_000_000)
}

// adminURL is the address of one page of the admin list.
func adminURL(q string, page int) string {
	vals := url.Values{}
	if q != "" {
		vals.Set("q", q)
	}
	if page > 1 {
		vals.Set("page", strconv.Itoa(page))
	}
	if len(vals) == 0 {
		return "/admin"
	}
	return "/admin?" + vals.Encode()
}

func (h *Handler) adminPage(w http.ResponseWriter, r *http.Request) {
	v := h.adminViewer(w, r)
	if v == nil {
		return
	}
	q, page := listParams(r.URL.Query())
	h.renderAdmin(w, r, v, q, page, http.StatusOK, "", "", h.takeFlash(w, r))
}

// renderAdmin shows one page of users. errMsg, when set, is shown on the
// row of user errUser, or above the list when that row is not on the page.
func (h *Handler) renderAdmin(w http.ResponseWriter, r *http.Request, v *viewer, q string, page, status int, errUser, errMsg string, fl *flash) {
	size := h.cfg.PageSize
	query := valet.UserQuery{Search: q, Offset: (page - 1) * size, Limit: size}
	users, total, err := h.svc.ListUsers(r.Context(), query)
	if err == nil && len(users) == 0 && total > 0 && page > 1 {
		// The page asked for is past the end (users were deleted): show the last.
		page = (total + size - 1) / size
		query.Offset = (page - 1) * size
		users, total, err = h.svc.ListUsers(r.Context(), query)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := adminData{
		layout: h.layoutFor(v, "Users", "admin", fl),
		Query:  q, Page: page, Total: total, Pages: max(1, (total+size-1)/size), PageSize: size,
	}
	if total > 0 {
		d.From, d.To = query.Offset+1, query.Offset+len(users)
	}
	if page > 1 {
		d.PrevURL = adminURL(q, page-1)
	}
	if page < d.Pages {
		d.NextURL = adminURL(q, page+1)
	}
	placed := errMsg == ""
	for _, u := range users {
		row := userRow{
			ID: u.ID, Email: u.Email, Roles: u.Roles, RolesText: strings.Join(u.Roles, ", "),
			Disabled: u.Disabled, CreatedAt: u.CreatedAt, Self: u.ID == v.id.User.ID,
		}
		if u.ID == errUser && !placed {
			row.Error, placed = errMsg, true
		}
		kinds, err := h.svc.FactorKinds(r.Context(), u.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		row.Factors = kindsText(kinds)
		d.Users = append(d.Users, row)
	}
	if !placed {
		d.Error = errMsg
	}
	h.render(w, r, status, "admin", d)
}

// splitRoles reads a list of roles typed as "admin, support billing". An
// empty field gives an empty list: the user has no roles.
func splitRoles(s string) []string {
	return append([]string{}, strings.FieldsFunc(strings.ToLower(s), func(c rune) bool {
		return c == ',' || c == ' ' || c == '\t'
	})...)
}

func (h *Handler) adminUpdateUser(w http.ResponseWriter, r *http.Request) {
	v := h.adminViewer(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	id := r.PathValue("id")
	q, page := listParams(r.PostForm)
	self := id == v.id.User.ID
	var (
		p    auth.UserPatch
		done string
		bad  string
	)
	switch r.PostForm.Get("op") {
	case "roles":
		roles := splitRoles(r.PostForm.Get("roles"))
		if self && v.id.User.HasRole("admin") && !slices.Contains(roles, "admin") {
			bad = "You cannot take away your own admin role here; another administrator, or the command valet user role, can."
		}
		p.Roles, done = &roles, "roles-saved"
	case "disable":
		if self {
			bad = "You cannot disable your own account."
		}
		t := true
		p.Disabled, done = &t, "user-disabled"
	case "enable":
		f := false
		p.Disabled, done = &f, "user-enabled"
	default:
		bad = "Choose what to change: roles, disable or enable."
	}
	if bad != "" {
		h.renderAdmin(w, r, v, q, page, http.StatusBadRequest, id, bad, nil)
		return
	}
	_, wd, err := h.svc.UpdateUser(r.Context(), id, p, h.client(r))
	if h.adminFailed(w, r, v, q, page, id, err) {
		return
	}
	h.redirect(w, r, adminURL(q, page), flashKey(done, wd))
}

func (h *Handler) adminRevokeSessions(w http.ResponseWriter, r *http.Request) {
	v := h.adminViewer(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	id := r.PathValue("id")
	q, page := listParams(r.PostForm)
	wd, err := h.svc.EndUserSessions(r.Context(), id, h.client(r))
	if h.adminFailed(w, r, v, q, page, id, err) {
		return
	}
	if id == v.id.User.ID && v.id.SessionID != "" {
		// That ended this browser's session too.
		h.cookies.ClearAll(w, r)
		h.redirect(w, r, "/", "signed-out")
		return
	}
	h.redirect(w, r, adminURL(q, page), flashKey("user-revoked", wd))
}

// adminFailed shows err, if any, on the admin page and reports whether it did.
func (h *Handler) adminFailed(w http.ResponseWriter, r *http.Request, v *viewer, q string, page int, id string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, valet.ErrNotFound):
		h.renderAdmin(w, r, v, q, page, http.StatusNotFound, id, "There is no such user any more.", nil)
	case errors.Is(err, valet.ErrInvalidRequest):
		h.renderAdmin(w, r, v, q, page, http.StatusBadRequest, id, valet.Message(err), nil)
	default:
		h.fail(w, r, err)
	}
	return true
}

// kindsText says kinds of second factor in words: "authenticator app and
// passkey".
func kindsText(kinds []valet.FactorKind) string {
	var w []string
	for _, k := range kinds {
		switch k {
		case valet.FactorTOTP:
			w = append(w, "authenticator app")
		case valet.FactorWebAuthn:
			w = append(w, "passkey")
		}
	}
	return wordList(w)
}

// adminResetFactors removes a user's second factors and recovery codes,
// for someone who lost theirs, which ends all of the user's sessions.
func (h *Handler) adminResetFactors(w http.ResponseWriter, r *http.Request) {
	v := h.adminViewer(w, r)
	if v == nil || !h.parseForm(w, r) {
		return
	}
	id := r.PathValue("id")
	q, page := listParams(r.PostForm)
	wd, err := h.svc.ResetFactors(r.Context(), id, h.client(r))
	if h.adminFailed(w, r, v, q, page, id, err) {
		return
	}
	if id == v.id.User.ID {
		// That ended this browser's sign-in too.
		h.cookies.ClearAll(w, r)
		h.redirect(w, r, "/", "signed-out")
		return
	}
	h.redirect(w, r, adminURL(q, page), flashKey("mfa-reset", wd))
}
