-- The needs and services analysis (docs/analysis.md): each finalized record reduced to its
-- facts (shared::analysis::Facts: who, and one bit per item that applies and option chosen),
-- kept in the same transaction as the record, keyed by campaign and community so that a
-- district's or a province's analysis is one index range of short rows.
CREATE TABLE analysis_facts (
    campaign_id TEXT NOT NULL,
    community TEXT NOT NULL,
    person_id TEXT NOT NULL,
    facts TEXT NOT NULL,
    PRIMARY KEY (campaign_id, community, person_id)
);
CREATE INDEX analysis_facts_person ON analysis_facts (person_id);
