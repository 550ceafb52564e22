-- Issue 11: a media stream is accepted once per call; the first stream
-- claims the call by setting this, atomically.
ALTER TABLE call_log ADD COLUMN stream_claimed_at TEXT;
