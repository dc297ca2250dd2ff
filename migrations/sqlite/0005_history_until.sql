-- When a community left a worker (moved to another, or unassigned): their edits made before
-- then are still accepted as late edits; new work after it is not.
ALTER TABLE assignment_history ADD COLUMN until_at BIGINT;
