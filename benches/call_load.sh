#!/usr/bin/env bash
# Call-load benchmark (issue 12): does every caller get the agent, how late
# is its reply, and — so the figures can be believed — did the server or
# the load generator fall behind?
#
# One release server, fake providers at `agentlocator fake-providers`'
# defaults (STT 300 ms, LLM first token 300 ms then 30 tokens/s, TTS 150 ms)
# and `agentlocator simulate-call --calls N`, all on this machine. With
# PIN=1 the server runs alone on CPU 0 and the fakes and the generator on
# CPU 1, so neither steals the other's core. Each run gets a fresh server
# and a fresh database; each (shape, db, N) is run RUNS times and ends with
# the median of each figure, as markdown rows for BENCHMARKS.md.
#
# Shapes: burst — N calls arriving STAGGER_MS apart (10 ms: 100 calls/s),
# each saying its utterance once; sustained — the same arrival, then each
# call keeps talking for DURATION_S seconds, going round its utterances.
#
# Usage: benches/call_load.sh [N ...]        (default: 50 200 500 1000)
# Knobs (environment):
#   SHAPE=burst|sustained   (default burst)
#   DB=sqlite|postgres      (default sqlite; postgres: a fresh database per
#                            run on PG_URL, default postgres://postgres@127.0.0.1:5432,
#                            dropped afterwards)
#   RUNS=3                  repeats of each N
#   DURATION_S=60           sustained call length
#   STAGGER_MS=10           arrival spacing
#   PIN=1|0                 taskset pinning (default 1 when nproc >= 2)
#   KEEP=dir                keep each run's JSON summary, server log and
#                           /metrics at its end there
#   AUDIO="a.wav b.wav"     the caller's utterances (default: shalom.wav)
#   FAKE_ARGS="--stt-ms …"  provider latencies other than the defaults;
#                           "--stt-stall-every 10" stalls 1 in 10
#                           transcriptions (--stall-ms, default 10 s;
#                           --llm-stall-every, --tts-stall-every alike)
#   BIN=path                a built binary (default: cargo build --release
#                           into $CARGO_TARGET_DIR, default target/)
#   PORT, FAKE_PORT         (default 7712, 7711)
#
# Per run, one line:
#   late_frames  reply frames after a > 40 ms underrun (the caller heard a gap)
#   felt_ms      caller-felt latency p50/p95/p99 (end of speech → first reply audio)
#   send_late_ms generator send lateness p50/p99 (frame left − its 20 ms slot)
#   late_sends   frames the generator sent > 20 ms late: when this is not
#                near 0, late frames and latency say as much about the
#                generator as about the server
#   gen_cpu_s    generator CPU (user+sys), with its share of one core
#   server_cpu_s server CPU (user+sys, /proc/PID/stat) from the first call
#                to 1 s after the last; per call-second: divided by the
#                seconds of media all calls streamed (a sustained call runs
#                past DURATION_S by the reply it was waiting for)
#   peak_rss_mb  server VmHWM; rss_per_call_kb = (VmHWM − RSS before) / N
#   warn_error   WARN and ERROR lines the server logged during the run
set -euo pipefail
cd "$(dirname "$0")/.."

SHAPE=${SHAPE:-burst}
DB=${DB:-sqlite}
RUNS=${RUNS:-3}
DURATION_S=${DURATION_S:-60}
STAGGER_MS=${STAGGER_MS:-10}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-7712}
FAKE_PORT=${FAKE_PORT:-7711}
AUDIO=${AUDIO:-crates/voice/tests/fixtures/shalom.wav}
case $SHAPE in burst | sustained) ;; *) echo "SHAPE must be burst or sustained" >&2; exit 2 ;; esac
# shellcheck source=benches/lib.sh
. benches/lib.sh
AUDIO_ARGS=()
for f in $AUDIO; do AUDIO_ARGS+=(--audio "$f"); done

TICK=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$TICK" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

EXTRA_SIM=()
[ "$SHAPE" = sustained ] && EXTRA_SIM=(--duration-s "$DURATION_S")

# One run: fresh database and server, the load, one line of figures (also
# appended to $WORK/rows as tab-separated numbers for the medians).
run_once() {
  local n=$1 run=$2 dir=$WORK/run
  rm -rf "$dir" && mkdir -p "$dir"
  fresh_database "bench_$$_${n}_$run" "$dir"
  # One business per 250 calls (each may stream 500 at once), as a
  # platform's traffic spreads over many businesses; the calls dial their
  # numbers in turn.
  TO_ARGS=()
  local b id phone
  for b in $(seq 1 $(( (n + 249) / 250 ))); do
    phone=+9723555$(printf %04d $((700 + b)))
    id=$("$BIN" business create --name "Load test $b" --phone "$phone" 2>>"$dir/setup.log" | sed -n 's/.*"id": *\([0-9]*\).*/\1/p') ||
      { cat "$dir/setup.log" >&2; exit 1; }
    "$BIN" business update "$id" --max-concurrent-calls 500 >>"$dir/setup.log" 2>&1 ||
      { cat "$dir/setup.log" >&2; exit 1; }
    TO_ARGS+=(--to "$phone")
  done
  start_server "$dir"

  local base_rss base_cpu base_lines
  base_rss=$(status_kb "$SERVER" VmRSS)
  base_cpu=$(cpu_s "$SERVER")
  base_lines=$(wc -l <"$dir/serve.log")
  "${ON_LOAD_CPU[@]}" "$BIN" simulate-call --url "http://127.0.0.1:$PORT" "${TO_ARGS[@]}" \
    "${AUDIO_ARGS[@]}" --calls "$n" --stagger-ms "$STAGGER_MS" "${EXTRA_SIM[@]}" \
    >"$dir/summary.json" 2>"$dir/simulate.err" || true
  # Rows written behind and stream_ended land just after the last call.
  sleep 1
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "run $run/$RUNS N=$n: the server died during the run; the end of its log:" >&2
    tail -n 20 "$dir/serve.log" >&2
    SERVER=
    exit 1
  fi
  local cpu peak warn
  cpu=$(awk -v a="$(cpu_s "$SERVER")" -v b="$base_cpu" 'BEGIN { printf "%.2f", a - b }')
  peak=$(status_kb "$SERVER" VmHWM)
  warn=$(tail -n +"$((base_lines + 1))" "$dir/serve.log" | grep -cE '"level": ?"(WARN|ERROR)"' || true)
  curl -s "http://127.0.0.1:$PORT/metrics" >"$dir/metrics.txt" || true
  stop_server
  if [ -n "${KEEP:-}" ]; then
    local tag=${SHAPE}_${DB}_${n}_run$run
    cp "$dir/summary.json" "$KEEP/$tag.json"
    cp "$dir/serve.log" "$KEEP/$tag.serve.log"
    cp "$dir/metrics.txt" "$KEEP/$tag.metrics.txt"
  fi
  if ! jq -e 'select(.event == "summary")' "$dir/summary.json" >/dev/null 2>&1; then
    echo "run $run/$RUNS N=$n: no summary from the simulator:" >&2
    cat "$dir/simulate.err" >&2
    return
  fi

  # Tab-separated, in the order of the median table's columns.
  jq -r --arg shape "$SHAPE" --arg db "$DB" --argjson cpu "$cpu" \
    --argjson peak "$peak" --argjson base "$base_rss" --argjson warn "$warn" '
    def r(d): if . == null then "-" else (. * pow(10; d) | round) / pow(10; d) end;
    [$shape, $db, .calls, .streamed, .to_recording, (.failures | length),
     (.late_fraction * 100 | r(2)),
     (.caller_felt_ms.p50 | r(0)), (.caller_felt_ms.p95 | r(0)), (.caller_felt_ms.p99 | r(0)),
     (.send_lateness_ms.p50 | r(1)), (.send_lateness_ms.p99 | r(1)),
     (.send_late_fraction * 100 | r(2)),
     (.generator_cpu_s | r(1)), (if .generator_cpu_s == null then null else .generator_cpu_s / .wall_s * 100 end | r(0)),
     ($cpu | r(1)),
     (if .stream_seconds > 0 then $cpu / .stream_seconds * 1000 else null end | r(2)),
     ($peak / 1024 | r(1)), (($peak - $base) / .calls | r(0)), $warn]
    | map(tostring) | join("\t")' "$dir/summary.json" | tee -a "$WORK/rows" |
    awk -F'\t' -v run="$run/$RUNS" '{
      printf "run %s shape=%s db=%s N=%s streamed=%s to_recording=%s failures=%s late_frames=%s%% ", run, $1, $2, $3, $4, $5, $6, $7
      printf "felt_ms=%s/%s/%s send_late_ms=%s/%s late_sends=%s%% gen_cpu_s=%s (%s%%) ", $8, $9, $10, $11, $12, $13, $14, $15
      printf "server_cpu_s=%s server_cpu_ms_per_call_s=%s peak_rss_mb=%s rss_per_call_kb=%s warn_error=%s\n", $16, $17, $18, $19, $20
    }'
}

echo "# call_load: shape=$SHAPE db=$DB runs=$RUNS stagger_ms=$STAGGER_MS$([ "$SHAPE" = sustained ] && echo " duration_s=$DURATION_S") pin=$PIN nproc=$(nproc) $(git rev-parse --short HEAD 2>/dev/null)"
for N in ${@:-50 200 500 1000}; do
  for run in $(seq 1 "$RUNS"); do
    run_once "$N" "$run"
    sleep 1
  done
done

[ -s "$WORK/rows" ] || exit 1
# The median of each column on its own (not the median run), per (shape,
# db, N); '-' where a figure does not apply.
echo
echo "Medians of $RUNS run(s), each figure on its own:"
echo
echo "| shape | db | calls | streamed | to recording | failures | late frames | caller-felt p50 / p95 / p99 ms | send lateness p50 / p99 ms | late sends | generator CPU s (% of a core) | server CPU s | server CPU ms per call-second | server peak RSS MB | RSS per call KB | WARN/ERROR lines |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' '
  function median(key, col,   n, i, v) {
    n = split(vals[key, col], v, " ")
    if (n == 0) return "-"
    asort(v)
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  {
    key = $1 "\t" $2 "\t" $3
    if (!(key in seen)) { seen[key] = 1; order[++keys] = key }
    for (c = 4; c <= NF; c++) if ($c != "-") vals[key, c] = vals[key, c] " " $c
  }
  END {
    for (k = 1; k <= keys; k++) {
      key = order[k]; split(key, id, "\t")
      for (c = 4; c <= 20; c++) m[c] = median(key, c)
      printf "| %s | %s | %s | %s | %s | %s | %s %% | %s / %s / %s | %s / %s | %s %% | %s (%s %%) | %s | %s | %s | %s | %s |\n",
        id[1], id[2], id[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11], m[12], m[13],
        m[14], m[15], m[16], m[17], m[18], m[19], m[20]
    }
  }' "$WORK/rows"
