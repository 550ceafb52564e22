-- Callers, created from the caller's number on their first call.
CREATE TABLE IF NOT EXISTS customer (
    id BIGSERIAL PRIMARY KEY,
    business_id BIGINT NOT NULL REFERENCES business(id),
    phone TEXT NOT NULL,
    name TEXT,
    notes TEXT,
    status TEXT NOT NULL DEFAULT 'new',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (business_id, phone)
);
CREATE INDEX IF NOT EXISTS customer_business_idx ON customer (business_id, created_at);
