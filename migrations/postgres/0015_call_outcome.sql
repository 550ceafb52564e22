-- Issue 13: the post-call outcome job's results. `outcome` holds the model's
-- structured answer as JSON (NULL when it fell back or nobody spoke);
-- `follow_up_status` is what the owner's inbox filters on, so it is never
-- NULL. `last_contact_at` lets the CRM sort customers by their latest call.
ALTER TABLE call_log ADD COLUMN summary TEXT;
ALTER TABLE call_log ADD COLUMN outcome TEXT;
ALTER TABLE call_log ADD COLUMN follow_up_status TEXT NOT NULL DEFAULT 'none';
ALTER TABLE customer ADD COLUMN last_contact_at TEXT;
