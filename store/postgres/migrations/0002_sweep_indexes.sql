-- Sweep finds what has expired through these indexes, a batch at a time. A
-- session ends at the earlier of its two expiries (least ignores a NULL idle
-- expiry), and so does a refresh family. The indexes on expires_at alone
-- served the sweep that these replace, and nothing else.

CREATE INDEX sessions_expiry_idx ON sessions (least(expires_at, idle_expires_at));
DROP INDEX sessions_expires_at_idx;

CREATE INDEX refresh_families_expiry_idx ON refresh_families (least(expires_at, idle_expires_at));
DROP INDEX refresh_families_expires_at_idx;
