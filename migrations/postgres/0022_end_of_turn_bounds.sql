-- Issue 15 point 2: the per-business bounds the Hebrew endpointing rules
-- keep the end-of-turn wait within (milliseconds; min <= end_of_turn_ms <= max).
ALTER TABLE business ADD COLUMN end_of_turn_min_ms INTEGER NOT NULL DEFAULT 300;
ALTER TABLE business ADD COLUMN end_of_turn_max_ms INTEGER NOT NULL DEFAULT 1500;
