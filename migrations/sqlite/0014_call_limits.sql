-- Issue 11: per-business call limits, and when a call's stream closed, so
-- the live streams of a business can be counted across instances.
ALTER TABLE business ADD COLUMN max_concurrent_calls INTEGER NOT NULL DEFAULT 20;
ALTER TABLE business ADD COLUMN max_call_minutes INTEGER NOT NULL DEFAULT 20;
ALTER TABLE call_log ADD COLUMN stream_closed_at TEXT;
-- The stream claim counts a business's recent streams on every call start;
-- without this it would read every call the business ever had.
CREATE INDEX IF NOT EXISTS call_log_streams_idx ON call_log (business_id, stream_claimed_at);
