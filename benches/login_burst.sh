#!/usr/bin/env bash
# Memory and password checks of one burst of wrong logins (issue 11).
#
# One release server on SQLite and one user; N connections are opened
# first, then each sends a wrong password for that user at once, so the
# requests really arrive together. Prints the answers by status, how many
# carried Retry-After, the server's password-check counters from /metrics,
# and its RSS before and at its peak (VmHWM, so nothing is missed between
# samples).
#
# Usage: benches/login_burst.sh [N]        (default: 300)
# Knobs: BIN=path (another build of the binary, e.g. an older commit's),
# PORT (default 7721), BENCH_PG=postgres://user@host (PostgreSQL instead of
# SQLite: a fresh database is created there per run, with psql), SPREAD=1
# (each request a different email from a different X-Forwarded-For address,
# with TRUSTED_PROXIES=127.0.0.1: no login limit applies, only the bound on
# concurrent password checks).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p agentlocator
  BIN=$PWD/target/release/agentlocator
fi
N=${1:-300}
WORK=$(mktemp -d)
DB=
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "$DB" ] && psql -q "$BENCH_PG/postgres" -c "DROP DATABASE IF EXISTS $DB" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

PORT=${PORT:-7721}
DATABASE_URL="sqlite://$WORK/burst.db?mode=rwc"
if [ -n "${BENCH_PG:-}" ]; then
  DB=al_burst_$$_$RANDOM
  psql -q "$BENCH_PG/postgres" -c "CREATE DATABASE $DB"
  DATABASE_URL="$BENCH_PG/$DB"
fi
export PORT LOG_DIR=$WORK/logs DATABASE_URL
[ -n "${SPREAD:-}" ] && export TRUSTED_PROXIES=127.0.0.1
EMAIL=burst@example.co.il
"$BIN" user create --email "$EMAIL" --role admin <<<"the right password, long enough" >/dev/null 2>&1
"$BIN" serve >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER/status"; }
BASE_RSS=$(kb VmRSS)
BASE_HWM=$(kb VmHWM)
python3 - "$PORT" "$N" "$EMAIL" "${SPREAD:-}" <<'EOF'
import collections, json, socket, sys

port, n, email, spread = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
for i, c in enumerate(conns):
    who, forwarded = email, ""
    if spread:
        who = f"nobody{i}@example.co.il"
        forwarded = f"X-Forwarded-For: 198.18.{i // 250}.{i % 250 + 1}\r\n"
    body = json.dumps({"email": who, "password": f"wrong guess {i}"}).encode()
    head = (f"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n{forwarded}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    c.sendall(head + body)
status, retry_after = collections.Counter(), 0
for c in conns:
    data = b""
    while chunk := c.recv(65536):
        data += chunk
    status[int(data.split(b" ", 2)[1])] += 1
    retry_after += b"\r\nretry-after:" in data.lower()
print(json.dumps({"answers_by_status": status, "with_retry_after": retry_after}))
EOF
# Hashes still running after their clients were answered count too.
for _ in $(seq 1 100); do
  curl -s "http://127.0.0.1:$PORT/metrics" | grep -q '^agentlocator_password_checks_in_flight 0' && break
  sleep 0.1
done
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^agentlocator_(password_checks|login_refusals)' || true
# Every wrong password that was checked logs one "login failed" (older builds too).
echo "login_failed_lines=$(grep -c '"msg":"login failed"' "$WORK/serve.log" || true)"
END_RSS=$(kb VmRSS)
PEAK=$(kb VmHWM)
echo "N=$N base_rss_kb=$BASE_RSS base_hwm_kb=$BASE_HWM peak_rss_kb=$PEAK end_rss_kb=$END_RSS growth_to_peak_mb=$(( (PEAK - BASE_RSS) / 1024 ))"
