-- Refresh-token families of OpenID Connect clients (the offline_access
-- scope), apart from valet's own refresh_families so that a token of one
-- is never redeemed as the other.
--
-- A family is keyed by its id; current_hash is the hash of the one token
-- of the family that may be used now. oauth_refresh_tokens holds the hash
-- of every token the family has had, current or earlier, so that a use of
-- an earlier one is told apart from an unknown token and revokes the
-- family. No token is stored in clear. Families go with their user and
-- their client, and the hashes with their family (ON DELETE CASCADE);
-- revoking a family deletes it. session_id names the device session the
-- family came from, without a foreign key (sessions may live in another
-- backend). The sweep deletes a family once expires_at has passed.

CREATE TABLE oauth_refresh (
	id           TEXT PRIMARY KEY,
	client_id    TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
	user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	session_id   TEXT NOT NULL DEFAULT '',
	scopes       TEXT NOT NULL DEFAULT '[]',
	amr          TEXT NOT NULL DEFAULT '[]',
	auth_time    INTEGER,
	created_at   INTEGER,
	expires_at   INTEGER NOT NULL,
	current_hash TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX oauth_refresh_by_expiry ON oauth_refresh (expires_at);
CREATE INDEX oauth_refresh_by_session ON oauth_refresh (session_id);
CREATE INDEX oauth_refresh_by_user ON oauth_refresh (user_id, client_id);
CREATE INDEX oauth_refresh_by_client ON oauth_refresh (client_id);

CREATE TABLE oauth_refresh_tokens (
	hash      TEXT PRIMARY KEY,
	family_id TEXT NOT NULL REFERENCES oauth_refresh (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX oauth_refresh_tokens_by_family ON oauth_refresh_tokens (family_id);
