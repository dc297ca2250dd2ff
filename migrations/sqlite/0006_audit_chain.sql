-- The audit trail, tamper-evident: each entry carries the hash of the one before it, so a
-- removed or altered entry breaks the chain (`doorstep-server audit-verify`). Entries of the
-- earlier `audit` table stay there, outside the chain.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    user_name TEXT,
    device_id TEXT,
    address TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_action ON audit_log (action, seq);
