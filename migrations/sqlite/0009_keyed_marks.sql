-- The hand-over to the national system: a record marked "keyed into the national app", by whom
-- and when. One mark per person record of a campaign; removing the mark deletes the row.
CREATE TABLE keyed_marks (
    person_id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    keyed_by TEXT NOT NULL,
    keyed_at BIGINT NOT NULL
);
CREATE INDEX keyed_marks_campaign ON keyed_marks (campaign_id);
