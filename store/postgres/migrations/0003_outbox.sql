-- The mail outbox (package mail): messages wait here until a node sends
-- them, so that none is lost to a restart or an SMTP outage, and each is
-- sent by one node: a claim locks due rows with FOR UPDATE SKIP LOCKED and
-- holds them until claimed_until (NULL: unclaimed).
--
-- body is the rendered subject and bodies as the mail worker encodes them,
-- sealed when it has a key, and emptied once the message is sent or dead;
-- kind and recipient stay in clear for logs. Sent and dead rows are deleted
-- by the worker's sweep after a retention period (7 days by default).

CREATE TABLE mail_outbox (
	id              text PRIMARY KEY,
	kind            text NOT NULL,
	recipient       text NOT NULL,
	body            bytea NOT NULL,
	state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
	attempts        integer NOT NULL DEFAULT 0,
	created_at      timestamptz NOT NULL,
	next_attempt_at timestamptz NOT NULL,
	claimed_until   timestamptz,
	updated_at      timestamptz NOT NULL,
	last_error      text NOT NULL DEFAULT ''
);
-- Claims read the due pending messages in this order.
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at, created_at, id) WHERE state = 'pending';
-- The sweep finds old sent and dead messages.
CREATE INDEX mail_outbox_done_idx ON mail_outbox (updated_at) WHERE state <> 'pending';
