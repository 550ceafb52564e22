-- Issue 15 point 1: per turn, the guesses at its end made while the caller
-- paused, the provider requests of those the caller talked past, and
-- whether the reply was a confirmed guess.
ALTER TABLE call_turn ADD COLUMN guesses INTEGER;
ALTER TABLE call_turn ADD COLUMN wasted_calls INTEGER;
ALTER TABLE call_turn ADD COLUMN speculative INTEGER NOT NULL DEFAULT 0;
