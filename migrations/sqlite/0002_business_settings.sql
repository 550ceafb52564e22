-- Per-business agent settings; every column has a default so old rows stay valid.
ALTER TABLE business ADD COLUMN locale TEXT NOT NULL DEFAULT 'he-IL';
ALTER TABLE business ADD COLUMN greeting TEXT;
ALTER TABLE business ADD COLUMN system_prompt TEXT;
ALTER TABLE business ADD COLUMN voice TEXT;
ALTER TABLE business ADD COLUMN end_of_turn_ms INTEGER NOT NULL DEFAULT 600;
ALTER TABLE business ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE business ADD COLUMN created_at TEXT;
ALTER TABLE business ADD COLUMN updated_at TEXT;
