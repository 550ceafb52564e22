-- The oldest shape of the schema: what the first (Python) deployment had.
-- Later migrations only ever add to it.
CREATE TABLE IF NOT EXISTS business (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    phone_number TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS call_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid TEXT NOT NULL UNIQUE,
    business_id INTEGER,
    from_number TEXT,
    to_number TEXT,
    status TEXT,
    created_at TEXT
);
