-- The needs and services analysis at province scale (docs/analysis.md, "How it stays fast"):
-- each community's finalized records' facts concatenated into one row (its pack), rewritten in
-- the same transaction as the records, so that an analysis reads one short row per community
-- instead of aggregating a million rows.
CREATE TABLE analysis_packs (
    campaign_id TEXT NOT NULL,
    community TEXT NOT NULL,
    facts TEXT NOT NULL,
    PRIMARY KEY (campaign_id, community)
);
-- Filled from the stored facts. Facts of an older encoding are re-encoded at start, the packs
-- with them: forgetting the facts version makes the server rebuild both from the records
-- (`Db::ensure_analysis_facts`) before it serves, so an upgraded database gives the same figures.
INSERT INTO analysis_packs (campaign_id, community, facts)
SELECT campaign_id, community, string_agg(facts, '')
FROM analysis_facts
GROUP BY campaign_id, community;
DELETE FROM settings WHERE key = 'analysis_facts_version';
