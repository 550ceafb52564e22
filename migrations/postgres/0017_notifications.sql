-- Issue 13: one row per owner notification (call, number), so a message is
-- never sent twice for the same call and number, and delivery updates from
-- Twilio's status callback find their row by message_sid.
CREATE TABLE IF NOT EXISTS notification (
    id BIGSERIAL PRIMARY KEY,
    call_sid TEXT NOT NULL,
    business_id BIGINT,
    channel TEXT NOT NULL,
    to_number TEXT NOT NULL,
    status TEXT NOT NULL,
    message_sid TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (call_sid, to_number)
);
CREATE INDEX IF NOT EXISTS notification_message_sid_idx ON notification (message_sid);
