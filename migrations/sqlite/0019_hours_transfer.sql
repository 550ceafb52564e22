-- Issue 14: the business's opening hours (JSON in one TEXT column, read
-- and written whole with the business row; NULL = always open) and the
-- number a caller is transferred to (E.164; NULL = none).
ALTER TABLE business ADD COLUMN hours TEXT;
ALTER TABLE business ADD COLUMN transfer_number TEXT;
