-- MISSION §6: per-business feature flags with their defaults.
ALTER TABLE business ADD COLUMN enable_calls_stream BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE business ADD COLUMN enable_recording_fallback BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE business ADD COLUMN enable_payments_paypal BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE business ADD COLUMN enable_payments_tranzila BOOLEAN NOT NULL DEFAULT FALSE;
