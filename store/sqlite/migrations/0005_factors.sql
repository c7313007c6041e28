-- Second factors (TOTP authenticators, WebAuthn credentials), recovery
-- codes, and the state of sign-ins under way between two requests.
--
-- A session records how its user signed in: amr is the methods' names
-- joined by commas ('' for none; a name holds no comma), and auth_time when
-- they last proved them (unix microseconds; NULL is the zero time).
--
-- Factors and recovery codes belong to their user and go with it (ON DELETE
-- CASCADE). A TOTP secret is stored sealed with the server's key, and a
-- recovery code only as a hash; a WebAuthn factor holds a public key.
-- credential_id is NULL for a TOTP factor, so that only WebAuthn
-- credentials are held unique. last_step is the newest TOTP time step
-- accepted: a code of that step or an earlier one is a replay.
--
-- pending is keyed by the hash of a secret the client holds and holds a
-- value sealed by the engine; a row is taken once, and the sweep deletes it
-- once it has expired.

ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;

CREATE TABLE factors (
	id            TEXT PRIMARY KEY,
	user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind          TEXT NOT NULL,
	name          TEXT NOT NULL DEFAULT '',
	secret        BLOB NOT NULL,
	credential_id TEXT UNIQUE,
	confirmed     INTEGER NOT NULL DEFAULT 0,
	last_step     INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER,
	last_used_at  INTEGER -- NULL: never
) STRICT, WITHOUT ROWID;

CREATE INDEX factors_by_user ON factors (user_id, created_at);

CREATE TABLE recovery_codes (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash    TEXT NOT NULL,
	PRIMARY KEY (user_id, hash)
) STRICT, WITHOUT ROWID;

CREATE TABLE pending (
	key        TEXT PRIMARY KEY,
	value      BLOB NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX pending_by_expiry ON pending (expires_at);
