#!/usr/bin/env bash
# Caller-felt reply latency beside Pipecat 1.14 (issue 15), in one run, with
# one load generator: ../shared/peers/twilio_load.py plays Twilio for N
# concurrent calls of caller-he.wav (looped, DURATION seconds each) against
# AgentLocator, then against pipecat_server.py, both with fake providers at
# STT 300 ms, LLM 300 ms + 30 tokens/s, TTS 150 ms, end of turn 600 ms
# (AgentLocator: end_of_turn_ms; Pipecat: Silero stop 0.2 s + 0.6 s timeout),
# and the same reply text.
#
# Usage: benches/vs_pipecat.sh            (N=15 DURATION=30 RUNS=3)
# AgentLocator's own knobs pass through the environment, e.g.
# TURN_GUESS_AFTER_MS=0 (no speculative turns) or 150.
# Needs: a Python 3.11 venv with pipecat-ai[websocket,silero]==1.14.0 and
# uvicorn (see ../shared/peers/README.md) in VENV (default /tmp/pcvenv);
# BIN (default target/release/agentlocator). Prints, per run and server,
# reply latency p50/p90/p99, late outbound frames, the generator's own
# send lateness p99, and server CPU; then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-15}; DURATION=${DURATION:-30}; RUNS=${RUNS:-3}
VENV=${VENV:-/tmp/pcvenv}; BIN=${BIN:-target/release/agentlocator}
PEERS=${PEERS:-../shared/peers}
PORT=${PORT:-7732}; FAKE_PORT=${FAKE_PORT:-7731}; PC_PORT=${PC_PORT:-8765}
TOKEN=bench-token; ACCOUNT=AC00000000000000000000000000bench
BIN=$(realpath "$BIN"); PEERS=$(realpath "$PEERS")
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

summary() { # file label
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); r = d["reply_latency_ms"]
o = d.get("outbound", {}); s = d.get("send_loop", {}); srv = d.get("server") or {}
print(f'{sys.argv[2]:<13} calls={d["calls_completed"]}/{d["calls_attempted"]} replies={r["n"]} missing={r["missing"]} '
      f'p50={r["p50"]:.0f} p90={r["p90"]:.0f} p99={r["p99"]:.0f} ms '
      f'late_frames={o.get("late_frames_pct_40ms", "?")}% '
      f'generator_send_late_p99={s.get("lateness_ms_p99", "?")} ms late_sends={s.get("late_pct_40ms", "?")}% '
      f'server_cpu={srv.get("cpu_pct_mean", "?")}% rss_per_call_kb={srv.get("rss_kb_per_call", "?")}')
PY
}

# Both fake models stream the same words: the reply Pipecat's fake LLM says,
# read from its source, so the first sentence is as long in both.
ANSWER=$(sed -n 's/^LLM_TEXT = "\(.*\)"$/\1/p' "$PEERS/pipecat_server.py")
[ -n "$ANSWER" ] || { echo "LLM_TEXT not found in $PEERS/pipecat_server.py" >&2; exit 1; }
"$BIN" fake-providers --port "$FAKE_PORT" --write-credentials "$work/google.json" \
  --answer "$ANSWER" >"$work/fake.log" 2>&1 &
sleep 1
export OPENAI_API_KEY=sk-fake OPENAI_BASE_URL=http://127.0.0.1:$FAKE_PORT/v1 \
  GOOGLE_TTS_BASE_URL=http://127.0.0.1:$FAKE_PORT GOOGLE_APPLICATION_CREDENTIALS=$work/google.json \
  TWILIO_AUTH_TOKEN=$TOKEN PUBLIC_BASE_URL=http://127.0.0.1:$PORT PORT=$PORT LOG_LEVEL=warn
for run in $(seq 1 "$RUNS"); do
  db="$work/run$run"; mkdir -p "$db"
  id=$(cd "$db" && "$BIN" business create --name "Bench" --phone +97235550777 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  (cd "$db" && exec "$BIN" serve >"$db/serve.log" 2>&1) &
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  seed="run$run-$RANDOM"
  # Twilio's incoming_call for each call the generator will stream.
  python3 - "$seed" "$N" <<PY
import base64, hashlib, hmac, sys, urllib.parse, urllib.request
seed, n = sys.argv[1], int(sys.argv[2])
url = "http://127.0.0.1:$PORT/webhook/incoming_call"
for i in range(n):
    p = {"CallSid": "CA" + hashlib.md5(f"{seed}-{i}".encode()).hexdigest(), "AccountSid": "$ACCOUNT",
         "From": f"+97250{1000000 + i}", "To": "+97235550777", "CallStatus": "ringing", "Direction": "inbound"}
    data = url + "".join(k + p[k] for k in sorted(p))
    sig = base64.b64encode(hmac.new(b"$TOKEN", data.encode(), hashlib.sha1).digest()).decode()
    req = urllib.request.Request(url, urllib.parse.urlencode(p).encode(), {"X-Twilio-Signature": sig})
    urllib.request.urlopen(req).read()
PY
  pid=$(pgrep -f "$BIN serve" | head -1)
  "$VENV/bin/python" "$PEERS/twilio_load.py" --url "ws://127.0.0.1:$PORT/ws/twilio-media" \
    --wav "$PEERS/caller-he.wav" --calls "$N" --duration "$DURATION" --auth-token "$TOKEN" \
    --sign-url "ws://127.0.0.1:$PORT/ws/twilio-media" --account-sid "$ACCOUNT" --sid-seed "$seed" \
    --param "business_id=$id" --pid "$pid" >"$work/al$run.json"
  guesses=$(curl -s "http://127.0.0.1:$PORT/metrics" \
    | awk '/^agentlocator_(turns|turn_guesses|turn_guess_wasted_calls|turns_speculative)_total /{sub("agentlocator_", "", $1); printf "%s=%s ", $1, $2}')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  summary "$work/al$run.json" "agentlocator"
  echo "              $guesses"

  (cd "$PEERS" && exec "$VENV/bin/python" pipecat_server.py --port "$PC_PORT" --workers 2) >"$work/pc.log" 2>&1 &
  for _ in $(seq 1 150); do grep -q listening "$work/pc.log" && break; sleep 0.2; done
  sleep 2 # both workers
  pcpid=$(pgrep -f "pipecat_server.py --port $PC_PORT" | head -1)
  "$VENV/bin/python" "$PEERS/twilio_load.py" --url "ws://127.0.0.1:$PC_PORT/ws/twilio-media" \
    --wav "$PEERS/caller-he.wav" --calls "$N" --duration "$DURATION" --pid "$pcpid" --pid-children \
    >"$work/pc$run.json"
  pkill -f "pipecat_server.py --port $PC_PORT" || true; sleep 1
  summary "$work/pc$run.json" "pipecat"
done
python3 - "$work" "$RUNS" <<'PY'
import json, statistics, sys
w, runs = sys.argv[1], int(sys.argv[2])
for tag, name in (("al", "agentlocator"), ("pc", "pipecat")):
    r = [json.load(open(f"{w}/{tag}{i}.json"))["reply_latency_ms"] for i in range(1, runs + 1)]
    print(f"median of {runs}: {name:<13} p50={statistics.median(x['p50'] for x in r):.0f} "
          f"p90={statistics.median(x['p90'] for x in r):.0f} p99={statistics.median(x['p99'] for x in r):.0f} ms")
PY
