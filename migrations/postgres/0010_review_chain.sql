-- The review chain (docs/review.md): the campaign's levels, per-item notes of a return, the
-- district's sample and its checks, and the follow-up cases of persons not surveyed.
ALTER TABLE campaigns ADD COLUMN review_levels TEXT NOT NULL DEFAULT 'street';
ALTER TABLE persons ADD COLUMN review_notes TEXT;

-- A record drawn into the district's sample, and its verification once recorded.
CREATE TABLE samples (
    person_id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    community TEXT NOT NULL,
    seed BIGINT NOT NULL,
    rate_permille BIGINT NOT NULL,
    threshold_bp BIGINT NOT NULL,
    drawn_by TEXT NOT NULL,
    drawn_at BIGINT NOT NULL,
    collected_by TEXT,
    checker TEXT,
    method TEXT,
    reached BIGINT,
    confirmed BIGINT,
    differing TEXT,
    note TEXT,
    checked_by TEXT,
    checked_at BIGINT
);
CREATE INDEX samples_campaign ON samples (campaign_id, community);

-- The county office's decision on a person who could not be surveyed.
CREATE TABLE follow_ups (
    person_id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    decision TEXT NOT NULL,
    county TEXT,
    decided_on TEXT NOT NULL,
    note TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at BIGINT NOT NULL
);
CREATE INDEX follow_ups_campaign ON follow_ups (campaign_id);
