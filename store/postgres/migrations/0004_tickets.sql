-- Email verification, and the one-time tickets that valet sends by mail
-- (verification, recovery, email change). A ticket is keyed by the hash of
-- its link token and holds the hash of its code: neither is stored in
-- clear. A ticket past expires_at is never used, and the sweep deletes it.

ALTER TABLE users
	ADD COLUMN email_verified boolean NOT NULL DEFAULT false,
	ADD COLUMN email_verified_at timestamptz;

CREATE TABLE tickets (
	id         text PRIMARY KEY,
	code_hash  text NOT NULL DEFAULT '',
	user_id    text NOT NULL,
	purpose    text NOT NULL,
	email      text NOT NULL,
	attempts   integer NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
-- A code is checked against the tickets of the address it names.
CREATE INDEX tickets_email_idx ON tickets (email, purpose);
CREATE INDEX tickets_user_idx ON tickets (user_id, purpose);
CREATE INDEX tickets_expires_at_idx ON tickets (expires_at);
