# Shared by the load benchmarks (call_load.sh, outcome_notify.sh), sourced
# after each has set its own defaults: DB, PG_URL, PORT, FAKE_PORT, PIN,
# BIN, KEEP and FAKE_ARGS mean the same in every script.
#
# Gives: ON_SERVER_CPU / ON_LOAD_CPU (taskset prefixes), BIN (built if
# unset), WORK (removed at exit with the server, the fakes and any
# benchmark database), fake providers on FAKE_PORT with the environment
# that points a server at them, and per run fresh_database, start_server
# and stop_server.

case $DB in sqlite | postgres) ;; *) echo "DB must be sqlite or postgres" >&2; exit 2 ;; esac
if [ -z "${PIN:-}" ]; then
  if [ "$(nproc)" -ge 2 ]; then PIN=1; else PIN=0; fi
fi
if [ "$PIN" = 1 ]; then
  ON_SERVER_CPU=(taskset -c 0)
  ON_LOAD_CPU=(taskset -c 1)
else
  ON_SERVER_CPU=()
  ON_LOAD_CPU=()
fi
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p agentlocator
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/agentlocator
fi
[ -n "${KEEP:-}" ] && mkdir -p "$KEEP"

WORK=$(mktemp -d)
PG_DB=
SERVER=
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi
  if [ -n "${FAKES:-}" ]; then kill "$FAKES" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [ -n "$PG_DB" ]; then
    psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# 1,000 calls are 2,000 sockets on each side, plus the database's files.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

"${ON_LOAD_CPU[@]}" "$BIN" fake-providers --port "$FAKE_PORT" \
  --write-credentials "$WORK/google.json" ${FAKE_ARGS:-} >"$WORK/fakes.log" 2>&1 &
FAKES=$!
export OPENAI_API_KEY=sk-fake OPENAI_BASE_URL=http://127.0.0.1:$FAKE_PORT/v1 \
  GOOGLE_TTS_BASE_URL=http://127.0.0.1:$FAKE_PORT GOOGLE_APPLICATION_CREDENTIALS=$WORK/google.json \
  TWILIO_AUTH_TOKEN=bench-token TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000 \
  TWILIO_API_BASE_URL=http://127.0.0.1:$FAKE_PORT \
  PUBLIC_BASE_URL=http://127.0.0.1:$PORT PORT=$PORT
unset TWILIO_SMS_FROM
for _ in $(seq 1 50); do [ -s "$WORK/google.json" ] && break; sleep 0.1; done

# fresh_database NAME DIR: an empty database for one run (PostgreSQL:
# database NAME, dropped by stop_server or at exit; SQLite: in DIR), and
# the run's logs and spool in DIR.
fresh_database() {
  if [ "$DB" = postgres ]; then
    PG_DB=$1
    psql -q "$PG_URL/postgres" -c "CREATE DATABASE $PG_DB"
    DATABASE_URL=$PG_URL/$PG_DB
  else
    DATABASE_URL="sqlite://$2/bench.db?mode=rwc"
  fi
  export DATABASE_URL LOG_DIR=$2/logs SPOOL_DIR=$2/spool
}

# start_server DIR: the server on its CPU, logging to DIR/serve.log, once
# it answers /healthz.
start_server() {
  "${ON_SERVER_CPU[@]}" "$BIN" serve >"$1/serve.log" 2>&1 &
  SERVER=$!
  local up=
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && up=1 && break
    sleep 0.1
  done
  [ -n "$up" ] || { echo "server did not start; its log:" >&2; cat "$1/serve.log" >&2; exit 1; }
}

# stop_server: stops the server and drops the run's PostgreSQL database.
stop_server() {
  kill "$SERVER" && wait "$SERVER" 2>/dev/null || true
  SERVER=
  if [ -n "$PG_DB" ]; then
    psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
    PG_DB=
  fi
}
