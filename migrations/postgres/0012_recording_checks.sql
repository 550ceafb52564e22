-- Issue 11: a call that moved to the recording but whose recording never
-- reached handle_recording is looked up on Twilio afterwards; these keep
-- when and how often, so a call without any recording is not asked about
-- forever, and two instances do not ask about the same call at once.
ALTER TABLE call_log ADD COLUMN recording_checked_at TEXT;
ALTER TABLE call_log ADD COLUMN recording_checks INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS call_log_unrecorded_idx ON call_log (updated_at) WHERE mode = 'record' AND recording_url IS NULL;
