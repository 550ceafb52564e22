#!/usr/bin/env bash
# Load benchmark for the real-time call pipeline (issue 5, benchmark 2).
#
# One release server, fake providers with fixed latencies (STT 300 ms, LLM
# first token 300 ms then 30 tokens/s, TTS 150 ms) and the simulator running
# N concurrent calls, all on this machine. For each N it prints the
# simulator's summary (caller-felt latency percentiles, late-frame fraction)
# plus the server's CPU seconds and RSS growth.
#
# Usage: benches/call_load.sh [N ...]        (default: 50 200 500 1000)
# Knobs: AUDIO=file.wav (the caller's utterance; a silent file measures
# idle-listening calls), FAKE_ARGS="--stt-ms 0 …" (provider latencies),
# KEEP=dir (keep the server log), STAGGER_MS (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p agentlocator
BIN=$PWD/target/release/agentlocator
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] && cp "$WORK/serve.log" "$KEEP/"; rm -rf "$WORK"' EXIT
ulimit -n 65536 || true

FAKE_PORT=${FAKE_PORT:-7711}
PORT=${PORT:-7712}
"$BIN" fake-providers --port "$FAKE_PORT" --write-credentials "$WORK/google.json" ${FAKE_ARGS:-} >/dev/null &
sleep 0.5
export OPENAI_API_KEY=sk-fake OPENAI_BASE_URL=http://127.0.0.1:$FAKE_PORT/v1 \
  GOOGLE_TTS_BASE_URL=http://127.0.0.1:$FAKE_PORT GOOGLE_APPLICATION_CREDENTIALS=$WORK/google.json \
  TWILIO_AUTH_TOKEN=bench-token TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000 \
  PUBLIC_BASE_URL=http://127.0.0.1:$PORT PORT=$PORT LOG_DIR=$WORK/logs \
  DATABASE_URL=${BENCH_DATABASE_URL:-sqlite://$WORK/bench.db?mode=rwc}
"$BIN" business create --name "Load test" --phone +97235550777 >/dev/null
"$BIN" serve >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

cpu_s() { awk '{print ($14+$15)/100}' "/proc/$SERVER/stat"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$SERVER/status"; }

for N in "${@:-50 200 500 1000}"; do
  BASE_RSS=$(rss_kb); BASE_CPU=$(cpu_s)
  # Sample RSS while the calls are connected and listening.
  ( PEAK=0; while kill -0 $SERVER 2>/dev/null; do R=$(rss_kb); [ "$R" -gt "$PEAK" ] && PEAK=$R && echo "$PEAK" >"$WORK/peak"; sleep 0.2; done ) &
  SAMPLER=$!
  START=$(date +%s.%N)
  "$BIN" simulate-call --url "http://127.0.0.1:$PORT" --to +97235550777 \
    --audio "${AUDIO:-crates/voice/tests/fixtures/shalom.wav}" --calls "$N" --stagger-ms "${STAGGER_MS:-10}" \
    >"$WORK/summary.json" || true
  END=$(date +%s.%N)
  kill $SAMPLER 2>/dev/null || true
  CPU=$(echo "$(cpu_s) - $BASE_CPU" | bc)
  PEAK=$(cat "$WORK/peak" 2>/dev/null || echo "$BASE_RSS")
  echo "N=$N wall_s=$(echo "$END - $START" | bc) server_cpu_s=$CPU base_rss_kb=$BASE_RSS peak_rss_kb=$PEAK rss_per_call_kb=$(( (PEAK - BASE_RSS) / N ))"
  cat "$WORK/summary.json"
  echo
  sleep 2
done
