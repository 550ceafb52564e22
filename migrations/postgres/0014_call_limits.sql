-- Issue 11: per-business call limits, and when a call's stream closed, so
-- the live streams of a business can be counted across instances.
ALTER TABLE business ADD COLUMN max_concurrent_calls INTEGER NOT NULL DEFAULT 20;
ALTER TABLE business ADD COLUMN max_call_minutes INTEGER NOT NULL DEFAULT 20;
ALTER TABLE call_log ADD COLUMN stream_closed_at TEXT;
