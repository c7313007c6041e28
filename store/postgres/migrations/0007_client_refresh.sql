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
	id           text PRIMARY KEY,
	client_id    text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
	user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	session_id   text NOT NULL DEFAULT '',
	scopes       text[] NOT NULL DEFAULT '{}',
	amr          text[] NOT NULL DEFAULT '{}',
	auth_time    timestamptz,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	current_hash text NOT NULL
);
CREATE INDEX oauth_refresh_expires_at_idx ON oauth_refresh (expires_at);
CREATE INDEX oauth_refresh_session_id_idx ON oauth_refresh (session_id);
CREATE INDEX oauth_refresh_user_id_idx ON oauth_refresh (user_id, client_id);
CREATE INDEX oauth_refresh_client_id_idx ON oauth_refresh (client_id);

CREATE TABLE oauth_refresh_tokens (
	hash      text PRIMARY KEY,
	family_id text NOT NULL REFERENCES oauth_refresh (id) ON DELETE CASCADE
);
CREATE INDEX oauth_refresh_tokens_family_id_idx ON oauth_refresh_tokens (family_id);
