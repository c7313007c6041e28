package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

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
		Email    string   `json:"email" valet:"required"`
		Password string   `json:"password" valet:"required"`
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
	u, wd, err := a.svc.UpdateUser(r.Context(), r.PathValue("id"), auth.UserPatch{Roles: in.Roles, Disabled: in.Disabled}, a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	tokensUntil(w, wd)
	writeJSON(w, http.StatusOK, map[string]any{"user": toUserJSON(u)})
}

func (a *API) adminDeleteUser(w http.ResponseWriter, r *http.Request) {
	wd, err := a.svc.DeleteUser(r.Context(), r.PathValue("id"), a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	tokensUntil(w, wd)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) adminEndSessions(w http.ResponseWriter, r *http.Request) {
	wd, err := a.svc.EndUserSessions(r.Context(), r.PathValue("id"), a.client(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	tokensUntil(w, wd)
	w.WriteHeader(http.StatusNoContent)
}

// Importer is the import of users that POST /v1/admin/users/import runs.
// *auth.Service implements it; a Service without it answers that endpoint
// with 404.
type Importer interface {
	ImportUsers(ctx context.Context, r io.Reader, opts auth.ImportOptions) (auth.ImportReport, error)
}

var _ Importer = (*auth.Service)(nil)

// ImportPath is the path of the bulk import, whose store work may take
// longer than one request's deadline (see Deadline).
const ImportPath = "/v1/admin/users/import"

// MaxImportBodyBytes is the largest body POST /v1/admin/users/import
// accepts (16 MiB, some 100,000 users), the one exception to MaxBodyBytes.
const MaxImportBodyBytes = 16 << 20

// importTime is how long an import request may take to arrive and be
// answered, beyond the server's usual timeouts: a large import is written
// in batches while the client waits.
const importTime = 5 * time.Minute

var (
	errImportTooLarge = valet.Errorf(valet.ErrTooLarge, "The request body is larger than 16 MiB; split the import, or use valet user import.")
	errNoJSONLines    = valet.Errorf(valet.ErrInvalidRequest, "Send the users as application/x-ndjson or application/jsonl, one JSON object a line.")
)

// adminImportRoutes registers POST /v1/admin/users/import on mux. It is
// for routes to call, once, with a.mux itself: a pattern for the path with
// no method, which a 405 for its other methods would need, conflicts in
// ServeMux with PATCH /v1/admin/users/{id}, so other methods of the path
// get that one's 405.
func (a *API) adminImportRoutes(mux *http.ServeMux) {
	mux.Handle("POST /v1/admin/users/import", a.role(a.adminImportUsers, "admin"))
}

// importReportJSON is an auth.ImportReport as the API shows it.
type importReportJSON struct {
	DryRun   bool                `json:"dry_run"`
	Lines    int                 `json:"lines"`
	Created  int                 `json:"created"`
	Updated  int                 `json:"updated"`
	Skipped  int                 `json:"skipped"`
	Failed   int                 `json:"failed"`
	Failures []importFailureJSON `json:"failures"`
}

type importFailureJSON struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// adminImportUsers imports the users of a JSON Lines body (see
// auth.Service.ImportUsers) and answers with the report. The body is read
// whole before anything is stored, so that a body over the bound stores
// nothing.
func (a *API) adminImportUsers(w http.ResponseWriter, r *http.Request) {
	imp, ok := a.svc.(Importer)
	if !ok {
		writeError(w, r, a.log, valet.Errorf(valet.ErrNotFound, "No such endpoint."))
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/x-ndjson" && mt != "application/jsonl") {
		writeError(w, r, a.log, errNoJSONLines)
		return
	}
	q := r.URL.Query()
	dryRun := false
	if v := q.Get("dry_run"); v != "" {
		if dryRun, err = strconv.ParseBool(v); err != nil {
			writeError(w, r, a.log, valet.Errorf(valet.ErrInvalidRequest, "dry_run must be true or false."))
			return
		}
	}
	onConflict, err := auth.ParseOnConflict(q.Get("on_conflict"))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if r.ContentLength > MaxImportBodyBytes {
		writeError(w, r, a.log, errImportTooLarge)
		return
	}
	// Not every ResponseWriter can move its deadlines; those that cannot
	// keep the server's.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(importTime))
	_ = rc.SetWriteDeadline(time.Now().Add(importTime))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxImportBodyBytes))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			writeError(w, r, a.log, errImportTooLarge)
			return
		}
		writeError(w, r, a.log, valet.Errorf(valet.ErrInvalidRequest, "The request body could not be read."))
		return
	}
	rep, err := imp.ImportUsers(r.Context(), bytes.NewReader(body), auth.ImportOptions{
		DryRun: dryRun, OnConflict: onConflict, Client: a.client(r),
	})
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := importReportJSON{
		DryRun: rep.DryRun, Lines: rep.Lines, Created: rep.Created, Updated: rep.Updated,
		Skipped: rep.Skipped, Failed: rep.Failed, Failures: make([]importFailureJSON, 0, len(rep.Failures)),
	}
	for _, f := range rep.Failures {
		out.Failures = append(out.Failures, importFailureJSON{Line: f.Line, Reason: f.Reason})
	}
	writeJSON(w, http.StatusOK, out)
}
