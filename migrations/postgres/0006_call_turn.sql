-- MISSION §4: one row per speech → response round, plus DESIGN.md's timings.
CREATE TABLE IF NOT EXISTS call_turn (
    id BIGSERIAL PRIMARY KEY,
    call_sid TEXT NOT NULL,
    business_id BIGINT NOT NULL,
    turn_id INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    mode TEXT NOT NULL DEFAULT 'stream',
    t_audio_ms INTEGER,
    t_stt_ms INTEGER,
    t_nlp_ms INTEGER,
    t_tts_ms INTEGER,
    t_total_ms INTEGER,
    endpointing_ms INTEGER,
    barge_in BOOLEAN NOT NULL DEFAULT FALSE,
    user_text TEXT,
    agent_text TEXT,
    error_code TEXT,
    UNIQUE (call_sid, turn_id)
);
CREATE INDEX IF NOT EXISTS call_turn_call_sid_idx ON call_turn (call_sid);
CREATE INDEX IF NOT EXISTS call_turn_business_started_idx ON call_turn (business_id, started_at);
