#!/usr/bin/env bash
# Owner-notification benchmark (issue 13): how long after a call ends does
# the owner's SMS reach Twilio, when 50 calls end together?
#
# One release server, fake providers at `agentlocator fake-providers`'
# defaults (STT 300 ms, LLM first token 300 ms then 30 tokens/s — the
# structured outcome too —, TTS 150 ms, and the Twilio Messages API), one
# business that texts every call to one number, and `agentlocator
# simulate-call --calls N --stagger-ms 0`: N callers who all dial at once,
# each say one utterance, wait for the reply and hang up (so they hang up
# together). Each run gets a fresh server and database.
#
# Per call: from its end — `call_status completed`, which the simulator
# posts at hang-up and the server stores as `call_log.ended_at` — to the
# moment the fake Messages API accepted its SMS (`accepted_at_ms` at
# `GET /fake/messages`), the message matched to the call by "#<call_log.id>"
# in its body. Target: p95 ≤ 30 s, median ≤ 10 s, all N messages arrive.
#
# Usage: benches/outcome_notify.sh [N]      (default 50)
# Knobs (environment):
#   DB=sqlite|postgres      (default sqlite; postgres: a fresh database per
#                            run on PG_URL, default postgres://postgres@127.0.0.1:5432)
#   RUNS=3                  repeats
#   WAIT_S=120              longest wait for all N messages after the calls
#   JOB_WORKERS             passed to the server when set (its default otherwise)
#   PIN=1|0                 server on CPU 0, fakes and generator on CPU 1
#                           (default 1 when nproc >= 2)
#   KEEP=dir                keep each run's summary, latencies and server log
#   AUDIO=a.wav             the caller's utterance (default: shalom.wav)
#   FAKE_ARGS="--llm-ttft-ms …"  provider latencies other than the defaults
#   BIN=path                a built binary (default: cargo build --release)
#   PORT, FAKE_PORT         (default 7722, 7721)
#
# Per run, one line: count (messages matched to calls, of N), the
# end → accepted latency's median, p95 and max in ms, and the generator's
# own send lateness (p50/p99 ms, share of late frames) from the
# simulator's summary, so a slow generator is not mistaken for a slow server.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-50}
DB=${DB:-sqlite}
RUNS=${RUNS:-3}
WAIT_S=${WAIT_S:-120}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-7722}
FAKE_PORT=${FAKE_PORT:-7721}
AUDIO=${AUDIO:-crates/voice/tests/fixtures/shalom.wav}
OWNER=+972521111111
PHONE=+97235559901
# shellcheck source=benches/lib.sh
. benches/lib.sh

# The rows of one run's calls as "id<TAB>ended_at" lines.
ended_rows() {
  if [ "$DB" = postgres ]; then
    psql -At -F $'\t' "$DATABASE_URL" -c "SELECT id, COALESCE(ended_at, '') FROM call_log"
  else
    python3 - "$1/bench.db" <<'EOF'
import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute("SELECT id, COALESCE(ended_at, '') FROM call_log"):
    print(f"{row[0]}\t{row[1]}")
EOF
  fi
}

run_once() {
  local run=$1 dir=$WORK/run
  rm -rf "$dir" && mkdir -p "$dir"
  fresh_database "bench_notify_$$_$run" "$dir"
  local id
  id=$("$BIN" business create --name "Notify bench" --phone "$PHONE" 2>>"$dir/setup.log" | sed -n 's/.*"id": *\([0-9]*\).*/\1/p') ||
    { cat "$dir/setup.log" >&2; exit 1; }
  "$BIN" business update "$id" --max-concurrent-calls 500 --notify-channel sms \
    --notify-to "[\"$OWNER\"]" >>"$dir/setup.log" 2>&1 || { cat "$dir/setup.log" >&2; exit 1; }
  start_server "$dir"

  # Messages of earlier runs stay at the fake (their call ids repeat):
  # only those accepted from now on count.
  local since_ms
  since_ms=$(date +%s%3N)
  "${ON_LOAD_CPU[@]}" "$BIN" simulate-call --url "http://127.0.0.1:$PORT" --to "$PHONE" \
    --audio "$AUDIO" --calls "$N" --stagger-ms 0 >"$dir/summary.json" 2>"$dir/simulate.err" || true

  # The latency being measured is the wait itself: poll the fake until
  # every call's message is there, or WAIT_S has passed.
  local count=0
  for _ in $(seq 1 $((WAIT_S * 5))); do
    count=$(curl -sf "http://127.0.0.1:$FAKE_PORT/fake/messages" |
      jq --argjson since "$since_ms" '[.messages[] | select(.accepted_at_ms >= $since)] | length')
    [ "$count" -ge "$N" ] && break
    sleep 0.2
  done
  curl -sf "http://127.0.0.1:$FAKE_PORT/fake/messages" >"$dir/messages.json"
  ended_rows "$dir" >"$dir/ended.tsv"
  stop_server

  local lateness
  lateness=$(jq -r 'select(.event == "summary") |
    def r: if . == null then "-" else (. * 10 | round) / 10 end;
    "\(.send_lateness_ms.p50 | r)/\(.send_lateness_ms.p99 | r) ms, late sends \(.send_late_fraction * 100 | r) %, failures \(.failures | length)"' \
    "$dir/summary.json" 2>/dev/null || true)
  [ -n "$lateness" ] || lateness="no simulator summary: $(tail -n 3 "$dir/simulate.err" | tr '\n' ' ')"

  python3 - "$dir/messages.json" "$dir/ended.tsv" "$since_ms" "$N" "$run/$RUNS" "$DB" "$lateness" \
    "$WORK/rows" "$dir/latencies.txt" <<'EOF'
import json, re, sys
from datetime import datetime

messages, ended, since, n, run, db, lateness, rows, out = sys.argv[1:]
since, n = int(since), int(n)
end_ms = {}
for line in open(ended, encoding="utf-8"):
    call_id, _, at = line.rstrip("\n").partition("\t")
    if at:
        end_ms[int(call_id)] = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() * 1000
latencies = []
for m in json.load(open(messages, encoding="utf-8"))["messages"]:
    if m["accepted_at_ms"] < since:
        continue
    found = re.search(r"#(\d+)", m["body"])
    if found and int(found.group(1)) in end_ms:
        latencies.append(m["accepted_at_ms"] - end_ms.pop(int(found.group(1))))
latencies.sort()

def pct(p):
    if not latencies:
        return None
    # Nearest rank: the smallest value with at least p % at or below it.
    return latencies[max(0, -(-len(latencies) * p // 100) - 1)]

median, p95 = pct(50), pct(95)
top = latencies[-1] if latencies else None
open(out, "w").write("\n".join(f"{v:.0f}" for v in latencies) + "\n")
fmt = lambda v: "-" if v is None else f"{v:.0f}"
print(f"run {run} db={db} N={n} messages={len(latencies)}/{n} end→accepted ms: "
      f"median={fmt(median)} p95={fmt(p95)} max={fmt(top)} | generator send lateness {lateness}")
with open(rows, "a") as f:
    f.write(f"{len(latencies)}\t{fmt(median)}\t{fmt(p95)}\t{fmt(top)}\n")
EOF
  if [ -n "${KEEP:-}" ]; then
    local tag=${DB}_${N}_run$run
    for f in summary.json messages.json ended.tsv latencies.txt serve.log; do
      cp "$dir/$f" "$KEEP/$tag.$f"
    done
  fi
}

echo "# outcome_notify: db=$DB runs=$RUNS calls=$N job_workers=${JOB_WORKERS:-default} pin=$PIN nproc=$(nproc) $(git rev-parse --short HEAD 2>/dev/null)"
for run in $(seq 1 "$RUNS"); do
  run_once "$run"
  sleep 1
done

[ -s "$WORK/rows" ] || exit 1
echo
echo "Medians of $RUNS run(s), each figure on its own:"
echo
echo "| db | calls | messages | end → accepted median ms | p95 ms | max ms |"
echo "|---|---:|---:|---:|---:|---:|"
awk -F'\t' -v db="$DB" -v n="$N" '
  function median(col,   k, v) {
    k = split(vals[col], v, " ")
    if (k == 0) return "-"
    asort(v)
    return (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
  }
  { for (c = 1; c <= NF; c++) if ($c != "-") vals[c] = vals[c] " " $c }
  END { printf "| %s | %s | %s | %s | %s | %s |\n", db, n, median(1), median(2), median(3), median(4) }
' "$WORK/rows"
