package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet"
)

const clientColumns = `id, name, secret_hash, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri,
	scopes, skip_consent, id_token_alg, access_ttl, refresh_ttl, created_at`

const codeColumns = `hash, client_id, user_id, session_id, redirect_uri, scopes, nonce, code_challenge,
	amr, auth_time, created_at, expires_at`

// listJSON is how a list of strings is stored: a JSON array, as the roles
// of a user are. Marshalling a []string cannot fail.
func listJSON(a []string) string {
	if a == nil {
		a = []string{}
	}
	b, _ := json.Marshal(a)
	return string(b)
}

// listOf is the inverse of listJSON; an empty list is nil.
func listOf(column, s string) ([]string, error) {
	var a []string
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("%s: %v", column, err)
	}
	if len(a) == 0 {
		return nil, nil
	}
	return a, nil
}

func scanClient(sc scanner) (valet.Client, error) {
	var (
		c                     valet.Client
		redirects, postLogout string
		scopes                string
		skip                  int
		access, refresh       int64
		created               sql.NullInt64
	)
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &redirects, &postLogout, &c.BackchannelLogoutURI,
		&scopes, &skip, &c.IDTokenAlg, &access, &refresh, &created); err != nil {
		return valet.Client{}, err
	}
	var err error
	if c.RedirectURIs, err = listOf("redirect_uris", redirects); err != nil {
		return valet.Client{}, err
	}
	if c.PostLogoutRedirectURIs, err = listOf("post_logout_redirect_uris", postLogout); err != nil {
		return valet.Client{}, err
	}
	if c.Scopes, err = listOf("scopes", scopes); err != nil {
		return valet.Client{}, err
	}
	c.SkipConsent = skip != 0
	c.AccessTTL, c.RefreshTTL = time.Duration(access), time.Duration(refresh)
	c.CreatedAt = timeOf(created)
	return c, nil
}

func scanCode(sc scanner) (valet.AuthCode, error) {
	var (
		c                 valet.AuthCode
		scopes, amr       string
		authTime, created sql.NullInt64
		expires           int64
	)
	if err := sc.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, &scopes, &c.Nonce, &c.CodeChallenge,
		&amr, &authTime, &created, &expires); err != nil {
		return valet.AuthCode{}, err
	}
	var err error
	if c.Scopes, err = listOf("scopes", scopes); err != nil {
		return valet.AuthCode{}, err
	}
	if c.AMR, err = listOf("amr", amr); err != nil {
		return valet.AuthCode{}, err
	}
	c.AuthTime, c.CreatedAt, c.ExpiresAt = timeOf(authTime), timeOf(created), time.UnixMicro(expires).UTC()
	return c, nil
}

func scanConsent(sc scanner) (valet.Consent, error) {
	var (
		c       valet.Consent
		scopes  string
		created sql.NullInt64
	)
	if err := sc.Scan(&c.UserID, &c.ClientID, &scopes, &created); err != nil {
		return valet.Consent{}, err
	}
	var err error
	if c.Scopes, err = listOf("scopes", scopes); err != nil {
		return valet.Consent{}, err
	}
	c.CreatedAt = timeOf(created)
	return c, nil
}

// CreateClient stores c. It returns an error wrapping valet.ErrConflict
// when c.ID is taken and valet.ErrUnavailable on other failures.
func (db *DB) CreateClient(ctx context.Context, c valet.Client) error {
	_, err := db.rw.ExecContext(ctx, `INSERT INTO oauth_clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.SecretHash, listJSON(c.RedirectURIs), listJSON(c.PostLogoutRedirectURIs), c.BackchannelLogoutURI,
		listJSON(c.Scopes), boolInt(c.SkipConsent), c.IDTokenAlg, int64(c.AccessTTL), int64(c.RefreshTTL), micros(c.CreatedAt))
	if err != nil {
		return db.fail(ctx, "create client", err)
	}
	return nil
}

// ClientByID returns client id. It returns an error wrapping
// valet.ErrNotFound when there is none and valet.ErrUnavailable on failure.
func (db *DB) ClientByID(ctx context.Context, id string) (valet.Client, error) {
	c, err := scanClient(db.ro.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return valet.Client{}, fmt.Errorf("sqlite: client: %w", valet.ErrNotFound)
	}
	if err != nil {
		return valet.Client{}, db.fail(ctx, "client", err)
	}
	return c, nil
}

// Clients returns every client, oldest first. It returns an error wrapping
// valet.ErrUnavailable on failure.
func (db *DB) Clients(ctx context.Context) ([]valet.Client, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT `+clientColumns+` FROM oauth_clients ORDER BY created_at, id`)
	if err != nil {
		return nil, db.fail(ctx, "clients", err)
	}
	defer rows.Close()
	var out []valet.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, db.fail(ctx, "clients", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(ctx, "clients", err)
	}
	return out, nil
}

// DeleteClient removes client id, and with it its codes, consents and
// grants. It returns an error wrapping valet.ErrNotFound when there is
// none and valet.ErrUnavailable on failure.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	res, err := db.rw.ExecContext(ctx, `DELETE FROM oauth_clients WHERE id = ?`, id)
	if err != nil {
		return db.fail(ctx, "delete client", err)
	}
	return db.oneRow(ctx, "delete client", res)
}

// ownersExist is the condition, on parameters ?1 (a user id) and ?2 (a
// client id), under which a row of theirs may be stored: checked in the
// statement that stores it, so that neither can go in between.
const ownersExist = `EXISTS (SELECT 1 FROM users WHERE id = ?1) AND EXISTS (SELECT 1 FROM oauth_clients WHERE id = ?2)`

// CreateAuthCode stores code. It returns an error wrapping
// valet.ErrNotFound when code.UserID names no user or code.ClientID no
// client, valet.ErrConflict when its hash is stored already, taken or not,
// and valet.ErrUnavailable on other failures.
func (db *DB) CreateAuthCode(ctx context.Context, code valet.AuthCode) error {
	res, err := db.rw.ExecContext(ctx, `INSERT INTO oauth_codes (user_id, client_id, hash, session_id, redirect_uri, scopes,
			nonce, code_challenge, amr, auth_time, created_at, expires_at)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 WHERE `+ownersExist,
		code.UserID, code.ClientID, code.Hash, code.SessionID, code.RedirectURI, listJSON(code.Scopes),
		code.Nonce, code.CodeChallenge, listJSON(code.AMR), micros(code.AuthTime), micros(code.CreatedAt), code.ExpiresAt.UnixMicro())
	if err != nil {
		return db.fail(ctx, "create auth code", err)
	}
	return db.oneRow(ctx, "create auth code: user or client", res)
}

// TakeAuthCode marks the code with hash taken and returns it, in one
// UPDATE ... RETURNING that only an untaken, live code matches, so that of
// callers at once one takes it. found is false when there is none or it
// has expired at now; used is true, with found false, when it was taken
// before and has not expired at now. It returns an error wrapping
// valet.ErrUnavailable on failure.
func (db *DB) TakeAuthCode(ctx context.Context, hash string, now time.Time) (valet.AuthCode, bool, bool, error) {
	c, err := scanCode(db.rw.QueryRowContext(ctx, `UPDATE oauth_codes SET used_at = ?2
		WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2
		RETURNING `+codeColumns, hash, now.UnixMicro()))
	if err == nil {
		return c, true, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return valet.AuthCode{}, false, false, db.fail(ctx, "take auth code", err)
	}
	// A taken code is never untaken, so this read, after the update that
	// did not match, cannot miss the take that came first.
	var used int
	if err := db.ro.QueryRowContext(ctx, `SELECT count(*) FROM oauth_codes
		WHERE hash = ?1 AND used_at IS NOT NULL AND expires_at > ?2`, hash, now.UnixMicro()).Scan(&used); err != nil {
		return valet.AuthCode{}, false, false, db.fail(ctx, "take auth code", err)
	}
	return valet.AuthCode{}, false, used > 0, nil
}

// SetConsent stores c in place of the consent of its user and client. It
// returns an error wrapping valet.ErrNotFound when c.UserID names no user
// or c.ClientID no client, and valet.ErrUnavailable on other failures.
func (db *DB) SetConsent(ctx context.Context, c valet.Consent) error {
	res, err := db.rw.ExecContext(ctx, `INSERT INTO oauth_consents (user_id, client_id, scopes, created_at)
		SELECT ?1, ?2, ?3, ?4 WHERE `+ownersExist+`
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at`,
		c.UserID, c.ClientID, listJSON(c.Scopes), micros(c.CreatedAt))
	if err != nil {
		return db.fail(ctx, "set consent", err)
	}
	return db.oneRow(ctx, "set consent: user or client", res)
}

// Consent returns the consent of userID for clientID; found is false when
// there is none. It returns an error wrapping valet.ErrUnavailable on
// failure.
func (db *DB) Consent(ctx context.Context, userID, clientID string) (valet.Consent, bool, error) {
	c, err := scanConsent(db.ro.QueryRowContext(ctx, `SELECT user_id, client_id, scopes, created_at FROM oauth_consents
		WHERE user_id = ? AND client_id = ?`, userID, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return valet.Consent{}, false, nil
	}
	if err != nil {
		return valet.Consent{}, false, db.fail(ctx, "consent", err)
	}
	return c, true, nil
}

// Consents returns the consents of userID, newest first. It returns an
// error wrapping valet.ErrUnavailable on failure.
func (db *DB) Consents(ctx context.Context, userID string) ([]valet.Consent, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT user_id, client_id, scopes, created_at FROM oauth_consents
		WHERE user_id = ? ORDER BY created_at DESC, client_id`, userID)
	if err != nil {
		return nil, db.fail(ctx, "consents", err)
	}
	defer rows.Close()
	var out []valet.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, db.fail(ctx, "consents", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(ctx, "consents", err)
	}
	return out, nil
}

// DeleteConsent removes the consent of userID for clientID and reports
// whether there was one. It returns an error wrapping valet.ErrUnavailable
// on failure.
func (db *DB) DeleteConsent(ctx context.Context, userID, clientID string) (bool, error) {
	res, err := db.rw.ExecContext(ctx, `DELETE FROM oauth_consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
	if err != nil {
		return false, db.fail(ctx, "delete consent", err)
	}
	return db.affected(ctx, "delete consent", res)
}

// AddClientGrant records g; a grant of the same session and client keeps
// the later ExpiresAt. It returns an error wrapping valet.ErrNotFound when
// g.UserID names no user or g.ClientID no client, and valet.ErrUnavailable
// on other failures.
func (db *DB) AddClientGrant(ctx context.Context, g valet.ClientGrant) error {
	res, err := db.rw.ExecContext(ctx, `INSERT INTO oauth_client_grants (user_id, client_id, session_id, expires_at)
		SELECT ?1, ?2, ?3, ?4 WHERE `+ownersExist+`
		ON CONFLICT (session_id, client_id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
		g.UserID, g.ClientID, g.SessionID, g.ExpiresAt.UnixMicro())
	if err != nil {
		return db.fail(ctx, "add client grant", err)
	}
	return db.oneRow(ctx, "add client grant: user or client", res)
}

// ClientGrants returns the grants of session sid that have not expired by
// the store's clock, by client id. It returns an error wrapping
// valet.ErrUnavailable on failure.
func (db *DB) ClientGrants(ctx context.Context, sid string) ([]valet.ClientGrant, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT session_id, client_id, user_id, expires_at FROM oauth_client_grants
		WHERE session_id = ?`, sid)
	return db.liveGrants(ctx, "client grants", rows, err)
}

// TakeClientGrants deletes the grants of session sid and returns those
// that had not expired by the store's clock, by client id, in one DELETE
// ... RETURNING on the one writing connection. It returns an error
// wrapping valet.ErrUnavailable on failure.
func (db *DB) TakeClientGrants(ctx context.Context, sid string) ([]valet.ClientGrant, error) {
	rows, err := db.rw.QueryContext(ctx, `DELETE FROM oauth_client_grants WHERE session_id = ?
		RETURNING session_id, client_id, user_id, expires_at`, sid)
	return db.liveGrants(ctx, "take client grants", rows, err)
}

// liveGrants reads the grants of rows (session_id, client_id, user_id,
// expires_at), the answer of a query that failed with err, and returns
// those that have not expired by the store's clock, by client id.
func (db *DB) liveGrants(ctx context.Context, op string, rows *sql.Rows, err error) ([]valet.ClientGrant, error) {
	if err != nil {
		return nil, db.fail(ctx, op, err)
	}
	defer rows.Close()
	now := db.now().UnixMicro()
	var out []valet.ClientGrant
	for rows.Next() {
		var (
			g       valet.ClientGrant
			expires int64
		)
		if err := rows.Scan(&g.SessionID, &g.ClientID, &g.UserID, &expires); err != nil {
			return nil, db.fail(ctx, op, err)
		}
		if expires > now {
			g.ExpiresAt = time.UnixMicro(expires).UTC()
			out = append(out, g)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(ctx, op, err)
	}
	slices.SortFunc(out, func(a, b valet.ClientGrant) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}
