-- The first schema of valet. Secrets never reach these tables: sessions are
-- keyed by the hash of the client's secret and refresh tokens by their hash.
-- There are no foreign keys to users, because sessions and refresh families
-- may live in another backend than the accounts they belong to.

CREATE TABLE users (
	id            text PRIMARY KEY,
	email         text NOT NULL UNIQUE,
	password_hash text NOT NULL,
	roles         text[] NOT NULL DEFAULT '{}',
	disabled      boolean NOT NULL DEFAULT false,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);
CREATE INDEX users_created_at_idx ON users (created_at, id);

CREATE TABLE sessions (
	id              text PRIMARY KEY,
	user_id         text NOT NULL,
	mode            text NOT NULL,
	created_at      timestamptz NOT NULL,
	last_seen_at    timestamptz NOT NULL,
	expires_at      timestamptz NOT NULL,
	idle_expires_at timestamptz,
	user_agent      text NOT NULL DEFAULT '',
	ip              text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id, created_at DESC);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE refresh_families (
	id              text PRIMARY KEY,
	user_id         text NOT NULL,
	session_id      text NOT NULL DEFAULT '',
	generation      integer NOT NULL,
	rotated_at      timestamptz NOT NULL,
	successor       bytea,
	created_at      timestamptz NOT NULL,
	expires_at      timestamptz NOT NULL,
	idle_expires_at timestamptz NOT NULL,
	revoked         boolean NOT NULL DEFAULT false
);
CREATE INDEX refresh_families_user_id_idx ON refresh_families (user_id);
CREATE INDEX refresh_families_session_id_idx ON refresh_families (session_id) WHERE session_id <> '';
CREATE INDEX refresh_families_expires_at_idx ON refresh_families (expires_at);

CREATE TABLE refresh_tokens (
	hash       text PRIMARY KEY,
	family_id  text NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
	generation integer NOT NULL
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);

CREATE TABLE signing_keys (
	id         text PRIMARY KEY,
	alg        text NOT NULL,
	private    bytea NOT NULL,
	public     bytea,
	created_at timestamptz NOT NULL,
	retired_at timestamptz
);

CREATE TABLE secrets (
	name       text PRIMARY KEY,
	value      bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE revocations (
	session_id text PRIMARY KEY,
	until      timestamptz NOT NULL
);
CREATE INDEX revocations_until_idx ON revocations (until);
