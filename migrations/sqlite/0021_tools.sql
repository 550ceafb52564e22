-- Issue 14 points 2 and 4: which tools the agent may use (JSON list of
-- names; NULL = all of them), the message a caller left through the agent
-- (JSON, stored during the call), the tools each turn ran (JSON list), and
-- how the customer asked to be called back.
ALTER TABLE business ADD COLUMN tools TEXT;
ALTER TABLE call_log ADD COLUMN message_json TEXT;
ALTER TABLE call_turn ADD COLUMN tools TEXT;
ALTER TABLE customer ADD COLUMN callback_number TEXT;
ALTER TABLE customer ADD COLUMN preferred_time TEXT;
