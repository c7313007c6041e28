-- The first schema of valet's SQLite store.
--
-- Times are unix microseconds in INTEGER columns; NULL is the zero time.
-- Session ids are already hashes of the secrets that clients hold, and
-- refresh tokens are kept only as hashes: no secret is stored in clear.
-- Sessions and refresh families name their user without a foreign key, so
-- that deleting a user leaves them for the caller to end and report.

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	roles         TEXT NOT NULL DEFAULT '[]', -- a JSON array of strings
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER,
	updated_at    INTEGER
) STRICT;

CREATE INDEX users_by_created ON users (created_at, id);

CREATE TABLE sessions (
	id              TEXT PRIMARY KEY,
	user_id         TEXT NOT NULL,
	mode            TEXT NOT NULL,
	created_at      INTEGER,
	last_seen_at    INTEGER,
	expires_at      INTEGER,
	idle_expires_at INTEGER, -- NULL: no idle expiry
	user_agent      TEXT NOT NULL DEFAULT '',
	ip              TEXT NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_by_user ON sessions (user_id, created_at);

CREATE TABLE refresh_families (
	id              TEXT PRIMARY KEY,
	user_id         TEXT NOT NULL,
	session_id      TEXT NOT NULL DEFAULT '',
	generation      INTEGER NOT NULL,
	rotated_at      INTEGER,
	successor       BLOB,
	created_at      INTEGER,
	expires_at      INTEGER,
	idle_expires_at INTEGER,
	revoked         INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX refresh_families_by_user ON refresh_families (user_id, session_id);

CREATE TABLE refresh_tokens (
	hash       TEXT PRIMARY KEY,
	family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
	generation INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

CREATE TABLE signing_keys (
	id         TEXT PRIMARY KEY,
	alg        TEXT NOT NULL,
	private    BLOB NOT NULL,
	public     BLOB NOT NULL,
	created_at INTEGER,
	retired_at INTEGER -- NULL while the key signs
) STRICT;

CREATE TABLE secrets (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE revocations (
	session_id TEXT PRIMARY KEY,
	until      INTEGER
) STRICT, WITHOUT ROWID;
