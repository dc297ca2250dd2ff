-- Campaigns a district runs year after year (docs/campaigns.md).
-- state: 'open' (at most one), 'late' (closed, late edits of its records still accepted),
-- 'closed' (closed for good).
ALTER TABLE campaigns ADD COLUMN district_name TEXT NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN home_visit_target_bp BIGINT NOT NULL DEFAULT 9500;
ALTER TABLE campaigns ADD COLUMN state TEXT NOT NULL DEFAULT 'open';
ALTER TABLE campaigns ADD COLUMN closed_at BIGINT;
ALTER TABLE campaigns ADD COLUMN carried_from TEXT;
UPDATE campaigns SET state = CASE WHEN is_open = 1 THEN 'open' ELSE 'late' END;

-- Last year's answers of the carried items, the record they came from, flags for an admin
-- decision ('moved_last_year', 'missing_from_roster'), and who collected the record.
ALTER TABLE persons ADD COLUMN prior TEXT;
ALTER TABLE persons ADD COLUMN prior_person_id TEXT;
ALTER TABLE persons ADD COLUMN flag TEXT;
ALTER TABLE persons ADD COLUMN collected_by TEXT;
CREATE INDEX persons_prior ON persons (prior_person_id);

-- Edits of a closed campaign's records that arrived after it closed.
ALTER TABLE mutations ADD COLUMN late BIGINT NOT NULL DEFAULT 0;

-- Persons an admin removed from a campaign: the whole row is kept, with who, when and why.
CREATE TABLE removed_persons (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    row_json TEXT NOT NULL,
    removed_at BIGINT NOT NULL,
    removed_by TEXT NOT NULL,
    reason TEXT NOT NULL
);

-- Devices are registered by the server: 'app' (signed in through the API) or 'web' (console).
