-- OpenID Connect clients, the authorization codes issued to them, the
-- consents users gave them, and which clients got tokens from which
-- session (for back-channel logout).
--
-- Lists (redirect URIs, scopes, methods) are JSON arrays of strings, as
-- users.roles is. access_ttl and refresh_ttl are durations in nanoseconds;
-- 0 means the server's default. secret_hash is '' for a public client.
--
-- A code is keyed by the hash of the code the client holds: no code is
-- stored in clear. Taking a code sets used_at instead of deleting the row,
-- so that a replay is told apart from an unknown code until the code
-- expires; the sweep deletes it after, taken or not.
--
-- Codes, consents and grants go with their user and with their client (ON
-- DELETE CASCADE). session_id names a session without a foreign key: the
-- sessions may live in another backend. A grant is swept once expires_at,
-- the end of its session at the latest, has passed.

CREATE TABLE oauth_clients (
	id                        TEXT PRIMARY KEY,
	name                      TEXT NOT NULL DEFAULT '',
	secret_hash               TEXT NOT NULL DEFAULT '',
	redirect_uris             TEXT NOT NULL DEFAULT '[]',
	post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
	backchannel_logout_uri    TEXT NOT NULL DEFAULT '',
	scopes                    TEXT NOT NULL DEFAULT '[]',
	skip_consent              INTEGER NOT NULL DEFAULT 0,
	id_token_alg              TEXT NOT NULL DEFAULT '',
	access_ttl                INTEGER NOT NULL DEFAULT 0,
	refresh_ttl               INTEGER NOT NULL DEFAULT 0,
	created_at                INTEGER
) STRICT;

CREATE INDEX oauth_clients_by_created ON oauth_clients (created_at, id);

CREATE TABLE oauth_codes (
	hash           TEXT PRIMARY KEY,
	client_id      TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
	user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	session_id     TEXT NOT NULL DEFAULT '',
	redirect_uri   TEXT NOT NULL DEFAULT '',
	scopes         TEXT NOT NULL DEFAULT '[]',
	nonce          TEXT NOT NULL DEFAULT '',
	code_challenge TEXT NOT NULL DEFAULT '',
	amr            TEXT NOT NULL DEFAULT '[]',
	auth_time      INTEGER,
	created_at     INTEGER,
	expires_at     INTEGER NOT NULL,
	used_at        INTEGER -- NULL: not taken yet
) STRICT, WITHOUT ROWID;

CREATE INDEX oauth_codes_by_expiry ON oauth_codes (expires_at);
CREATE INDEX oauth_codes_by_client ON oauth_codes (client_id);
CREATE INDEX oauth_codes_by_user ON oauth_codes (user_id);

CREATE TABLE oauth_consents (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id  TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
	scopes     TEXT NOT NULL DEFAULT '[]',
	created_at INTEGER,
	PRIMARY KEY (user_id, client_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX oauth_consents_by_client ON oauth_consents (client_id);

CREATE TABLE oauth_client_grants (
	session_id TEXT NOT NULL,
	client_id  TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (session_id, client_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX oauth_client_grants_by_expiry ON oauth_client_grants (expires_at);
CREATE INDEX oauth_client_grants_by_client ON oauth_client_grants (client_id);
CREATE INDEX oauth_client_grants_by_user ON oauth_client_grants (user_id);
