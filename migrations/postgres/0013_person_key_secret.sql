-- Each campaign's secret for person keys (`PersonKeys::Secret`): kept by the server, never
-- sent. Campaigns opened before keep NULL, their keys derived from the campaign and the ID.
ALTER TABLE campaigns ADD COLUMN person_key_secret TEXT;
