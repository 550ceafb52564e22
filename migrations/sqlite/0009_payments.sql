-- Payment requests made through PayPal or Tranzila (no Stripe, ever).
CREATE TABLE IF NOT EXISTS payment (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id INTEGER NOT NULL REFERENCES business(id),
    customer_id INTEGER,
    provider TEXT NOT NULL,
    amount_agorot INTEGER NOT NULL,
    currency TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    provider_ref TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payment_business_idx ON payment (business_id, created_at);
