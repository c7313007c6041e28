-- Second factors (TOTP authenticators, WebAuthn credentials), recovery
-- codes, and the state of sign-ins under way between two requests, which
-- may reach different nodes.
--
-- A session records how its user signed in: amr is the methods' names, and
-- auth_time when they last proved them (NULL: never recorded).
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

ALTER TABLE sessions
	ADD COLUMN amr text[] NOT NULL DEFAULT '{}',
	ADD COLUMN auth_time timestamptz;

CREATE TABLE factors (
	id            text PRIMARY KEY,
	user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind          text NOT NULL,
	name          text NOT NULL DEFAULT '',
	secret        bytea NOT NULL,
	credential_id text UNIQUE,
	confirmed     boolean NOT NULL DEFAULT false,
	last_step     bigint NOT NULL DEFAULT 0,
	created_at    timestamptz NOT NULL,
	last_used_at  timestamptz
);
CREATE INDEX factors_user_id_idx ON factors (user_id, created_at);

CREATE TABLE recovery_codes (
	user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash    text NOT NULL,
	PRIMARY KEY (user_id, hash)
);

CREATE TABLE pending (
	key        text PRIMARY KEY,
	value      bytea NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX pending_expires_at_idx ON pending (expires_at);
