-- MISSION §6: per-business feature flags with their defaults (0/1: SQLite has no booleans).
ALTER TABLE business ADD COLUMN enable_calls_stream INTEGER NOT NULL DEFAULT 1;
ALTER TABLE business ADD COLUMN enable_recording_fallback INTEGER NOT NULL DEFAULT 1;
ALTER TABLE business ADD COLUMN enable_payments_paypal INTEGER NOT NULL DEFAULT 0;
ALTER TABLE business ADD COLUMN enable_payments_tranzila INTEGER NOT NULL DEFAULT 0;
