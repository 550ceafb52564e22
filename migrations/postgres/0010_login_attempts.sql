-- The login limiter's counts (crate::auth::rate_limit), in the database so
-- that every instance sees the same ones. A row is one attempt let through to
-- the password check; it stays while it is a failure inside the window.
-- account_key is the SHA-256 of the normalised email, so what people type
-- into the email field is never stored; address is '' when unknown.
CREATE TABLE IF NOT EXISTS login_attempt (
    id BIGSERIAL PRIMARY KEY,
    account_key TEXT NOT NULL,
    address TEXT NOT NULL,
    attempted_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_attempt_account_idx ON login_attempt (account_key, attempted_at_ms);
CREATE INDEX IF NOT EXISTS login_attempt_address_idx ON login_attempt (address, attempted_at_ms);
CREATE INDEX IF NOT EXISTS login_attempt_time_idx ON login_attempt (attempted_at_ms);
