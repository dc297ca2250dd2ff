-- A person who left a community (moved by a roster import, or removed from the campaign): the
-- devices holding that community learn it from their next pull, whatever their cursor.
CREATE TABLE departures (
    campaign_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    person_id TEXT NOT NULL,
    community TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, seq)
);
CREATE INDEX departures_person ON departures (person_id);
