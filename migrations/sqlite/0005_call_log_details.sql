-- MISSION §5/§8: the transcript, and what the call pipeline records per call.
ALTER TABLE call_log ADD COLUMN transcript TEXT;
ALTER TABLE call_log ADD COLUMN customer_id INTEGER;
ALTER TABLE call_log ADD COLUMN mode TEXT NOT NULL DEFAULT 'stream';
ALTER TABLE call_log ADD COLUMN started_at TEXT;
ALTER TABLE call_log ADD COLUMN ended_at TEXT;
ALTER TABLE call_log ADD COLUMN duration_s INTEGER;
ALTER TABLE call_log ADD COLUMN recording_url TEXT;
ALTER TABLE call_log ADD COLUMN recording_sid TEXT;
ALTER TABLE call_log ADD COLUMN failover_reason TEXT;
ALTER TABLE call_log ADD COLUMN updated_at TEXT;
CREATE INDEX IF NOT EXISTS call_log_business_idx ON call_log (business_id, started_at);
