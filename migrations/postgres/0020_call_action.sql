-- Issue 14 point 2: what the agent armed for the end of its stream (a
-- transfer to a human or a hangup), so any instance answers `stream_ended`
-- and the whisper the same way. `whisper_token` is the short-lived
-- credential of the unsigned whisper audio URL; the index finds it.
ALTER TABLE call_log ADD COLUMN call_action TEXT;
ALTER TABLE call_log ADD COLUMN transfer_to TEXT;
ALTER TABLE call_log ADD COLUMN transfer_reason TEXT;
ALTER TABLE call_log ADD COLUMN transfer_whisper TEXT;
ALTER TABLE call_log ADD COLUMN whisper_token TEXT;
ALTER TABLE call_log ADD COLUMN whisper_expires_at TEXT;
ALTER TABLE call_log ADD COLUMN transfer_status TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS call_log_whisper_token_idx ON call_log (whisper_token);
