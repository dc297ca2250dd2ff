-- The last push batch each device had applied (`PushRequest::batch`): a batch that names the
-- one before it (`after`) is applied only after that one (docs/sync.md, "Two batches in
-- flight"). NULL until the device's first batch with an ID.
ALTER TABLE devices ADD COLUMN last_batch TEXT;
