package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/valetauth/valet"
)

const clientColumns = `id, name, secret_hash, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri,
	scopes, skip_consent, id_token_alg, access_ttl, refresh_ttl, created_at`

const codeColumns = `hash, client_id, user_id, session_id, redirect_uri, scopes, nonce, code_challenge,
	amr, auth_time, created_at, expires_at`

// listOf returns nil for an empty list, as a store that never saw one
// would.
func listOf(a []string) []string {
	if len(a) == 0 {
		return nil
	}
	return a
}

func scanClient(row pgx.Row) (valet.Client, error) {
	var (
		c               valet.Client
		access, refresh int64
	)
	if err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.BackchannelLogoutURI,
		&c.Scopes, &c.SkipConsent, &c.IDTokenAlg, &access, &refresh, &c.CreatedAt); err != nil {
		return valet.Client{}, err
	}
	c.RedirectURIs, c.PostLogoutRedirectURIs, c.Scopes = listOf(c.RedirectURIs), listOf(c.PostLogoutRedirectURIs), listOf(c.Scopes)
	c.AccessTTL, c.RefreshTTL = time.Duration(access), time.Duration(refresh)
	c.CreatedAt = c.CreatedAt.UTC()
	return c, nil
}

func scanCode(row pgx.Row) (valet.AuthCode, error) {
	var (
		c        valet.AuthCode
		authTime *time.Time
	)
	if err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, &c.Scopes, &c.Nonce, &c.CodeChallenge,
		&c.AMR, &authTime, &c.CreatedAt, &c.ExpiresAt); err != nil {
		return valet.AuthCode{}, err
	}
	c.Scopes, c.AMR = listOf(c.Scopes), listOf(c.AMR)
	c.AuthTime, c.CreatedAt, c.ExpiresAt = fromNull(authTime), c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	return c, nil
}

func scanConsent(row pgx.Row) (valet.Consent, error) {
	var c valet.Consent
	if err := row.Scan(&c.UserID, &c.ClientID, &c.Scopes, &c.CreatedAt); err != nil {
		return valet.Consent{}, err
	}
	c.Scopes, c.CreatedAt = listOf(c.Scopes), c.CreatedAt.UTC()
	return c, nil
}

// CreateClient stores c. It returns an error wrapping valet.ErrConflict
// when c.ID is taken and valet.ErrUnavailable when the database fails.
func (db *DB) CreateClient(ctx context.Context, c valet.Client) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.ID, c.Name, c.SecretHash, nonNil(c.RedirectURIs), nonNil(c.PostLogoutRedirectURIs), c.BackchannelLogoutURI,
		nonNil(c.Scopes), c.SkipConsent, c.IDTokenAlg, int64(c.AccessTTL), int64(c.RefreshTTL), c.CreatedAt)
	if err != nil {
		return fail("create client", err)
	}
	return nil
}

// ClientByID returns client id. It returns an error wrapping
// valet.ErrNotFound when there is none and valet.ErrUnavailable when the
// database fails.
func (db *DB) ClientByID(ctx context.Context, id string) (valet.Client, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	c, err := scanClient(db.pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return valet.Client{}, fmt.Errorf("postgres: client: %w", valet.ErrNotFound)
	}
	if err != nil {
		return valet.Client{}, fail("client", err)
	}
	return c, nil
}

// Clients returns every client, oldest first. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) Clients(ctx context.Context) ([]valet.Client, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+clientColumns+` FROM oauth_clients ORDER BY created_at, id`)
	if err != nil {
		return nil, fail("clients", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (valet.Client, error) { return scanClient(row) })
	if err != nil {
		return nil, fail("clients", err)
	}
	return out, nil
}

// DeleteClient removes client id, and with it its codes, consents and
// grants. It returns an error wrapping valet.ErrNotFound when there is
// none and valet.ErrUnavailable when the database fails.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM oauth_clients WHERE id = $1`, id)
	if err != nil {
		return fail("delete client", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete client: %w", valet.ErrNotFound)
	}
	return nil
}

// CreateAuthCode stores code. It returns an error wrapping
// valet.ErrNotFound when code.UserID names no user or code.ClientID no
// client, valet.ErrConflict when its hash is stored already, taken or not,
// and valet.ErrUnavailable when the database fails.
func (db *DB) CreateAuthCode(ctx context.Context, code valet.AuthCode) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	// The foreign keys check the user and the client in the same
	// statement, so that neither can go in between; noUser is true of a
	// violation of either.
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_codes (`+codeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		code.Hash, code.ClientID, code.UserID, code.SessionID, code.RedirectURI, nonNil(code.Scopes), code.Nonce,
		code.CodeChallenge, nonNil(code.AMR), nullTime(code.AuthTime), code.CreatedAt, code.ExpiresAt)
	if err != nil {
		if noUser(err) {
			return fmt.Errorf("postgres: create auth code: user or client: %w", valet.ErrNotFound)
		}
		return fail("create auth code", err)
	}
	return nil
}

// TakeAuthCode marks the code with hash taken and returns it, in one
// UPDATE ... RETURNING that only an untaken, live code matches: of updates
// at once, the row lock lets the first through and makes the others check
// the condition again, against the time it recorded. found is false when
// there is none or it has expired at now; used is true, with found false,
// when it was taken before and has not expired at now. It returns an error
// wrapping valet.ErrUnavailable when the database fails.
func (db *DB) TakeAuthCode(ctx context.Context, hash string, now time.Time) (valet.AuthCode, bool, bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	c, err := scanCode(db.pool.QueryRow(ctx, `UPDATE oauth_codes SET used_at = $2
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
		RETURNING `+codeColumns, hash, now))
	if err == nil {
		return c, true, false, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return valet.AuthCode{}, false, false, fail("take auth code", err)
	}
	// A taken code is never untaken, and an update that waited for the
	// take that came first returns only once it is committed: this read,
	// a statement of its own, sees it.
	var used bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM oauth_codes
		WHERE hash = $1 AND used_at IS NOT NULL AND expires_at > $2)`, hash, now).Scan(&used); err != nil {
		return valet.AuthCode{}, false, false, fail("take auth code", err)
	}
	return valet.AuthCode{}, false, used, nil
}

// SetConsent stores c in place of the consent of its user and client. It
// returns an error wrapping valet.ErrNotFound when c.UserID names no user
// or c.ClientID no client, and valet.ErrUnavailable when the database
// fails.
func (db *DB) SetConsent(ctx context.Context, c valet.Consent) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_consents (user_id, client_id, scopes, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = EXCLUDED.scopes, created_at = EXCLUDED.created_at`,
		c.UserID, c.ClientID, nonNil(c.Scopes), c.CreatedAt)
	if err != nil {
		if noUser(err) {
			return fmt.Errorf("postgres: set consent: user or client: %w", valet.ErrNotFound)
		}
		return fail("set consent", err)
	}
	return nil
}

// Consent returns the consent of userID for clientID; found is false when
// there is none. It returns an error wrapping valet.ErrUnavailable when the
// database fails.
func (db *DB) Consent(ctx context.Context, userID, clientID string) (valet.Consent, bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	c, err := scanConsent(db.pool.QueryRow(ctx, `SELECT user_id, client_id, scopes, created_at FROM oauth_consents
		WHERE user_id = $1 AND client_id = $2`, userID, clientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return valet.Consent{}, false, nil
	}
	if err != nil {
		return valet.Consent{}, false, fail("consent", err)
	}
	return c, true, nil
}

// Consents returns the consents of userID, newest first. It returns an
// error wrapping valet.ErrUnavailable when the database fails.
func (db *DB) Consents(ctx context.Context, userID string) ([]valet.Consent, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT user_id, client_id, scopes, created_at FROM oauth_consents
		WHERE user_id = $1 ORDER BY created_at DESC, client_id`, userID)
	if err != nil {
		return nil, fail("consents", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (valet.Consent, error) { return scanConsent(row) })
	if err != nil {
		return nil, fail("consents", err)
	}
	return out, nil
}

// DeleteConsent removes the consent of userID for clientID and reports
// whether there was one. It returns an error wrapping valet.ErrUnavailable
// when the database fails.
func (db *DB) DeleteConsent(ctx context.Context, userID, clientID string) (bool, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM oauth_consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
	if err != nil {
		return false, fail("delete consent", err)
	}
	return tag.RowsAffected() > 0, nil
}

// AddClientGrant records g; a grant of the same session and client keeps
// the later ExpiresAt. It returns an error wrapping valet.ErrNotFound when
// g.UserID names no user or g.ClientID no client, and valet.ErrUnavailable
// when the database fails.
func (db *DB) AddClientGrant(ctx context.Context, g valet.ClientGrant) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_client_grants (session_id, client_id, user_id, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (session_id, client_id) DO UPDATE
		SET expires_at = greatest(oauth_client_grants.expires_at, EXCLUDED.expires_at)`,
		g.SessionID, g.ClientID, g.UserID, g.ExpiresAt)
	if err != nil {
		if noUser(err) {
			return fmt.Errorf("postgres: add client grant: user or client: %w", valet.ErrNotFound)
		}
		return fail("add client grant", err)
	}
	return nil
}

// ClientGrants returns the grants of session sid that have not expired by
// Config.Now, by client id. It returns an error wrapping
// valet.ErrUnavailable when the database fails.
func (db *DB) ClientGrants(ctx context.Context, sid string) ([]valet.ClientGrant, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT session_id, client_id, user_id, expires_at FROM oauth_client_grants
		WHERE session_id = $1 AND expires_at > $2 ORDER BY client_id`, sid, db.now())
	if err != nil {
		return nil, fail("client grants", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (valet.ClientGrant, error) {
		var g valet.ClientGrant
		err := row.Scan(&g.SessionID, &g.ClientID, &g.UserID, &g.ExpiresAt)
		g.ExpiresAt = g.ExpiresAt.UTC()
		return g, err
	})
	if err != nil {
		return nil, fail("client grants", err)
	}
	return out, nil
}

// TakeClientGrants deletes the grants of session sid and returns those
// that had not expired by Config.Now, by client id, in one DELETE ...
// RETURNING: of deletes at once, a row goes to the one that locks it. It
// returns an error wrapping valet.ErrUnavailable when the database fails.
func (db *DB) TakeClientGrants(ctx context.Context, sid string) ([]valet.ClientGrant, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `DELETE FROM oauth_client_grants WHERE session_id = $1
		RETURNING session_id, client_id, user_id, expires_at`, sid)
	if err != nil {
		return nil, fail("take client grants", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (valet.ClientGrant, error) {
		var g valet.ClientGrant
		err := row.Scan(&g.SessionID, &g.ClientID, &g.UserID, &g.ExpiresAt)
		g.ExpiresAt = g.ExpiresAt.UTC()
		return g, err
	})
	if err != nil {
		return nil, fail("take client grants", err)
	}
	return liveGrants(all, db.now()), nil
}

// liveGrants returns the grants of all that have not expired at now, by
// client id.
func liveGrants(all []valet.ClientGrant, now time.Time) []valet.ClientGrant {
	live := slices.DeleteFunc(all, func(g valet.ClientGrant) bool { return !now.Before(g.ExpiresAt) })
	slices.SortFunc(live, func(a, b valet.ClientGrant) int { return strings.Compare(a.ClientID, b.ClientID) })
	return live
}
