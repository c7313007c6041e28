-- OpenID Connect clients, the authorization codes issued to them, the
-- consents users gave them, and which clients got tokens from which
-- session (for back-channel logout).
--
-- Lists (redirect URIs, scopes, methods) are text arrays, as users.roles
-- is. access_ttl and refresh_ttl are durations in nanoseconds; 0 means the
-- server's default. secret_hash is '' for a public client.
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
	id                        text PRIMARY KEY,
	name                      text NOT NULL DEFAULT '',
	secret_hash               text NOT NULL DEFAULT '',
	redirect_uris             text[] NOT NULL DEFAULT '{}',
	post_logout_redirect_uris text[] NOT NULL DEFAULT '{}',
	backchannel_logout_uri    text NOT NULL DEFAULT '',
	scopes                    text[] NOT NULL DEFAULT '{}',
	skip_consent              boolean NOT NULL DEFAULT false,
	id_token_alg              text NOT NULL DEFAULT '',
	access_ttl                bigint NOT NULL DEFAULT 0,
	refresh_ttl               bigint NOT NULL DEFAULT 0,
	created_at                timestamptz NOT NULL
);
CREATE INDEX oauth_clients_created_at_idx ON oauth_clients (created_at, id);

CREATE TABLE oauth_codes (
	hash           text PRIMARY KEY,
	client_id      text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
	user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	session_id     text NOT NULL DEFAULT '',
	redirect_uri   text NOT NULL DEFAULT '',
	scopes         text[] NOT NULL DEFAULT '{}',
	nonce          text NOT NULL DEFAULT '',
	code_challenge text NOT NULL DEFAULT '',
	amr            text[] NOT NULL DEFAULT '{}',
	auth_time      timestamptz,
	created_at     timestamptz NOT NULL,
	expires_at     timestamptz NOT NULL,
	used_at        timestamptz -- NULL: not taken yet
);
CREATE INDEX oauth_codes_expires_at_idx ON oauth_codes (expires_at);
CREATE INDEX oauth_codes_client_id_idx ON oauth_codes (client_id);
CREATE INDEX oauth_codes_user_id_idx ON oauth_codes (user_id);

CREATE TABLE oauth_consents (
	user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id  text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
	scopes     text[] NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL,
	PRIMARY KEY (user_id, client_id)
);
CREATE INDEX oauth_consents_client_id_idx ON oauth_consents (client_id);

CREATE TABLE oauth_client_grants (
	session_id text NOT NULL,
	client_id  text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
	user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (session_id, client_id)
);
CREATE INDEX oauth_client_grants_expires_at_idx ON oauth_client_grants (expires_at);
CREATE INDEX oauth_client_grants_client_id_idx ON oauth_client_grants (client_id);
CREATE INDEX oauth_client_grants_user_id_idx ON oauth_client_grants (user_id);
