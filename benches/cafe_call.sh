#!/usr/bin/env bash
# A caller in a café, through the whole service: what the call recorded
# when caller-he.wav's two utterances (5 s apart) come over café babble,
# with the stand-out rule (TURN_STAND_OUT_DB=14, the default) and without
# it (0), one fresh release server on SQLite and fake providers per call.
#
# The lines are the noise set's own (its dump test: the same babble, SNR
# and seeds the voice crate is judged on), played in real time by
# `agentlocator simulate-call` as one 21.7 s stretch of the caller's leg,
# so the crowd goes on while the agent answers, as in a café.
#
# Usage: benches/cafe_call.sh            (SNR=20 SEEDS="0 1 2" RULES="14 0" by default)
#        SNR=10 SEEDS="0 1" benches/cafe_call.sh
#        FAMILY=street SNR=10 RULES=14 benches/cafe_call.sh   (street or car: the same, in that noise)
#        FROM_START=1 RULES=14 benches/cafe_call.sh          (the noise from the call's first frame)
# Per call, one line: the rule, the seed, then from the call's call_turn
# rows: turns (each one a transcription and an LLM request), barge_ins
# (turns whose reply the line interrupted), cancelled (replies cut before
# any of them played: error_code superseded), full (replies heard to the
# end). A caller who spoke twice should get two full replies and nothing
# else. DETAIL=1 adds each turn: id, start, endpointing_ms, t_total_ms (its
# end → the reply's first frame), barge_in, error_code, reply length,
# speculative (answered from a guess), guesses, wasted_calls, ended_by (what
# ended the caller's turn), snr_db (their level over the line's quietest
# fifth).
set -euo pipefail
cd "$(dirname "$0")/.."

DB=sqlite
PORT=${PORT:-5077}
FAKE_PORT=${FAKE_PORT:-5078}
SNR=${SNR:-20}
FAMILY=${FAMILY:-cafe}
SEEDS=${SEEDS:-"0 1 2"}
PHONE=+97235550123
# shellcheck source=benches/lib.sh
. benches/lib.sh

NOISE_SET_DUMP=$WORK/noise-set cargo test --release -q -p agentlocator-voice \
  --test noise_set -- --ignored dump >/dev/null

# The noise set's mixed line, played after the greeting over a quiet line;
# with FROM_START=1, the clean caller after the greeting and the same noise
# under the whole call from its first frame, as a real café line is.
if [ -n "${FROM_START:-}" ]; then
  LINE=(--audio "$WORK/noise-set/clean-0.wav" --background "$WORK/noise-set/$FAMILY-$SNR-SEED-0-noise.wav")
else
  LINE=(--audio "$WORK/noise-set/$FAMILY-$SNR-SEED-0.wav")
fi

printf "%-6s %-5s %6s %10s %10s %5s\n" rule seed turns barge_ins cancelled full
for rule in ${RULES:-14 0}; do
  for seed in $SEEDS; do
    dir=$WORK/run
    rm -rf "$dir" && mkdir -p "$dir"
    fresh_database unused "$dir"
    "$BIN" business create --name "קפה" --phone "$PHONE" >"$dir/setup.log" 2>&1 ||
      { cat "$dir/setup.log" >&2; exit 1; }
    TURN_STAND_OUT_DB=$rule start_server "$dir"
    "${ON_LOAD_CPU[@]}" "$BIN" simulate-call --url "http://127.0.0.1:$PORT" --to "$PHONE" \
      "${LINE[@]/SEED/$seed}" --wait-reply-ms 8000 \
      >"$dir/sim.json" 2>>"$dir/sim.log" || true
    stop_server
    sqlite3 -separator ' ' "$dir/bench.db" \
      "SELECT count(*), coalesce(sum(barge_in), 0),
              coalesce(sum(error_code = 'superseded'), 0),
              coalesce(sum(barge_in = 0 AND agent_text IS NOT NULL), 0)
       FROM call_turn" |
      awk -v rule="$rule" -v seed="$seed" '{ printf "%-6s %-5s %6s %10s %10s %5s\n", rule, seed, $1, $2, $3, $4 }'
    if [ -n "${DETAIL:-}" ]; then
      sqlite3 "$dir/bench.db" "SELECT turn_id, started_at, endpointing_ms, t_total_ms, barge_in,
        coalesce(error_code, '-'), length(agent_text), speculative, guesses, wasted_calls,
        ended_by, snr_db
        FROM call_turn ORDER BY turn_id"
    fi
  done
done
