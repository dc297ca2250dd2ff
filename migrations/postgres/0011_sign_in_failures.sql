-- Failed sign-ins in a row, per account (`u:name`) and per address (`a:ip`), kept in the
-- database so that every server process sees the same lockout and an admin's unlock from the
-- CLI, the API or the console lifts it everywhere.
CREATE TABLE sign_in_failures (
    lock_key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_at BIGINT NOT NULL
);
