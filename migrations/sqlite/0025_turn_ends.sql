-- Issue 15 point 3: per turn, what ended the caller's turn (the VAD's
-- silence, or in a crowd the room or the quiet hold) and the signal-to-noise
-- ratio it was heard at, so that noisy calls can be found and measured.
ALTER TABLE call_turn ADD COLUMN ended_by TEXT;
ALTER TABLE call_turn ADD COLUMN snr_db INTEGER;
