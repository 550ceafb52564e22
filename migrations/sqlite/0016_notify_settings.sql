-- Issue 13: how the owner is told of each call. The lists are JSON arrays
-- in one TEXT column each (NULL = none): they are read and written whole
-- with the business row, never queried item by item.
ALTER TABLE business ADD COLUMN notify_channel TEXT NOT NULL DEFAULT 'none';
ALTER TABLE business ADD COLUMN notify_to TEXT;
ALTER TABLE business ADD COLUMN categories TEXT;
