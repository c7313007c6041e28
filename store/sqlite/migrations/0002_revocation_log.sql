-- Every revocation recorded, numbered in the order it was recorded, so that
-- a server polls for those that another process (the CLI) recorded in the
-- same file: SQLite has no channel to tell it.
CREATE TABLE revocation_log (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	session_id TEXT NOT NULL,
	until      INTEGER NOT NULL
) STRICT;

CREATE INDEX revocation_log_until ON revocation_log (until);

CREATE TRIGGER revocation_logged AFTER INSERT ON revocations
WHEN NEW.until IS NOT NULL
BEGIN
	INSERT INTO revocation_log (session_id, until) VALUES (NEW.session_id, NEW.until);
END;

CREATE TRIGGER revocation_extended AFTER UPDATE OF until ON revocations
WHEN NEW.until IS NOT NULL AND NEW.until IS NOT OLD.until
BEGIN
	INSERT INTO revocation_log (session_id, until) VALUES (NEW.session_id, NEW.until);
END;
