-- Issue 13 point 4: the owner's follow-up inbox. Who marked a call's
-- follow-up done or open again, when, and with what note (a user id, not a
-- foreign key: deleting a user must not rewrite call history). The index
-- serves `GET /api/crm/followups` (one business, one status, newest first).
ALTER TABLE call_log ADD COLUMN follow_up_note TEXT;
ALTER TABLE call_log ADD COLUMN follow_up_by BIGINT;
ALTER TABLE call_log ADD COLUMN follow_up_at TEXT;
CREATE INDEX IF NOT EXISTS call_log_follow_up_idx ON call_log (business_id, follow_up_status, started_at);
