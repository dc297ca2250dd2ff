-- Doorstep schema, version 1. Times are milliseconds since the Unix epoch; JSON is stored as text;
-- booleans are 0/1 integers so that one set of queries serves SQLite and PostgreSQL.

CREATE TABLE places (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent TEXT,
    level TEXT NOT NULL
);

CREATE TABLE forms (
    version TEXT PRIMARY KEY,
    definition TEXT NOT NULL
);

CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    district TEXT NOT NULL,
    year BIGINT NOT NULL,
    name TEXT NOT NULL,
    starts TEXT NOT NULL,
    ends TEXT NOT NULL,
    form_version TEXT NOT NULL REFERENCES forms (version),
    is_open BIGINT NOT NULL,
    next_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    area TEXT,
    password_hash TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

-- The current worker of each community in a campaign.
CREATE TABLE assignments (
    campaign_id TEXT NOT NULL,
    community TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, community)
);
CREATE INDEX assignments_user ON assignments (campaign_id, user_id);

-- Every worker a community was ever assigned to: their late edits are still accepted.
CREATE TABLE assignment_history (
    campaign_id TEXT NOT NULL,
    community TEXT NOT NULL,
    user_id TEXT NOT NULL,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, community, user_id)
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (id),
    expires_at BIGINT NOT NULL
);

-- One row per roster person: the roster facts and the survey record, with its change sequence.
CREATE TABLE persons (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    community TEXT NOT NULL,
    person TEXT NOT NULL,
    doc TEXT NOT NULL,
    version BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    review TEXT NOT NULL,
    review_comment TEXT,
    final_outcome TEXT,
    via_app BIGINT NOT NULL DEFAULT 0,
    conflicts BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    updated_by TEXT
);
CREATE INDEX persons_seq ON persons (campaign_id, seq);
CREATE INDEX persons_community ON persons (campaign_id, community, seq);

-- The append-only log of every accepted mutation.
CREATE TABLE mutations (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    device_id TEXT,
    user_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    reassigned BIGINT NOT NULL DEFAULT 0,
    payload TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX mutations_person ON mutations (person_id);

-- Counters kept in the same transaction as every record change.
CREATE TABLE community_progress (
    campaign_id TEXT NOT NULL,
    community TEXT NOT NULL,
    roster BIGINT NOT NULL,
    home_visit BIGINT NOT NULL DEFAULT 0,
    phone BIGINT NOT NULL DEFAULT 0,
    not_found BIGINT NOT NULL DEFAULT 0,
    moved BIGINT NOT NULL DEFAULT 0,
    registered_only BIGINT NOT NULL DEFAULT 0,
    away BIGINT NOT NULL DEFAULT 0,
    deregistered BIGINT NOT NULL DEFAULT 0,
    via_app BIGINT NOT NULL DEFAULT 0,
    last_activity BIGINT,
    PRIMARY KEY (campaign_id, community)
);

CREATE TABLE daily_completions (
    campaign_id TEXT NOT NULL,
    community TEXT NOT NULL,
    day TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, community, day)
);

-- Who viewed or exported what (sensitive personal information).
CREATE TABLE audit (
    at BIGINT NOT NULL,
    user_id TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
