-- Each finalized record's analysis facts live in its own `persons` row (docs/analysis.md, "How
-- it stays fast"): the upsert that writes the record writes them, and the row read before a
-- change brings the old ones, instead of a table of their own read and written beside every
-- record (a fifth of a push's time under the write lock). The packs stay as they are.
ALTER TABLE persons ADD COLUMN facts TEXT;
UPDATE persons SET facts = f.facts
FROM analysis_facts f
WHERE f.person_id = persons.id AND f.campaign_id = persons.campaign_id
  AND f.community = persons.community;
DROP TABLE analysis_facts;
