-- No query reads the log by person: it is read by mutation ID (a batch's replays) and whole, in
-- the order received. The index on `person_id` only cost every push a random insert per
-- mutation: on SQLite, a commit of 200 edits wrote about 480 pages with it and 400 without
-- (the tables of 6,800 records and their log; docs/benchmarks.md).
DROP INDEX mutations_person;
