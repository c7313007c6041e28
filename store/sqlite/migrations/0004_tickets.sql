-- Email verification, and the one-time tickets that valet sends by mail
-- (verification, recovery, email change). A ticket is keyed by the hash of
-- its link token and holds the hash of its code: neither is stored in
-- clear. Times are unix microseconds; a ticket past expires_at is never
-- used, and the sweep deletes it.

ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN email_verified_at INTEGER; -- NULL: never

CREATE TABLE tickets (
	id         TEXT PRIMARY KEY,
	code_hash  TEXT NOT NULL DEFAULT '',
	user_id    TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	email      TEXT NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- A code is checked against the tickets of the address it names.
CREATE INDEX tickets_by_email ON tickets (email, purpose);
CREATE INDEX tickets_by_user ON tickets (user_id, purpose);
CREATE INDEX tickets_by_expiry ON tickets (expires_at);
