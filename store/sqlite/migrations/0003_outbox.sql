-- The mail outbox (package mail): messages wait here until a node sends
-- them, so that none is lost to a restart or an SMTP outage.
--
-- body is the rendered subject and bodies as the mail worker encodes them,
-- sealed when it has a key, and emptied once the message is sent or dead;
-- kind and recipient stay in clear for logs. claimed_until is the end of the
-- lease of the node that claimed the message (NULL: unclaimed). Times are
-- unix microseconds. Sent and dead rows are deleted by the worker's sweep
-- after a retention period (7 days by default).
--
-- The number 0003 leaves 0002 to a migration written beside this one; the
-- runner applies each version it has not recorded, in order, gaps or not.

CREATE TABLE mail_outbox (
	id              TEXT PRIMARY KEY,
	kind            TEXT NOT NULL,
	recipient       TEXT NOT NULL,
	body            BLOB NOT NULL,
	state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	claimed_until   INTEGER,
	updated_at      INTEGER NOT NULL,
	last_error      TEXT NOT NULL DEFAULT ''
) STRICT;

-- Claims read the due pending messages in this order.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at, created_at, id) WHERE state = 'pending';
-- The sweep finds old sent and dead messages.
CREATE INDEX mail_outbox_done ON mail_outbox (updated_at) WHERE state <> 'pending';
