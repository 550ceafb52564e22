#!/usr/bin/env bash
# Schema-driven fuzzing of /api against its own OpenAPI document, as an
# owner and as an admin: every generated request must get an answer the
# document allows (status, headers, body) and never a server error.
#
#   pip install schemathesis            # once; from PyPI
#   scripts/api-contract.sh [max-examples-per-operation]
#
# Excluded: login, logout, password change and session revocation (they
# would end the fuzzer's own session or lock it out of its password) and
# the Stripe tombstone, which answers 410 to everything by design.
#
# Starts its own `serve` on a throwaway SQLite database (debug build unless
# BIN is set), so it touches nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXAMPLES="${1:-100}"
command -v schemathesis >/dev/null || { echo "schemathesis not found: pip install schemathesis" >&2; exit 2; }
if [ -z "${BIN:-}" ]; then cargo build -q; BIN=target/debug/agentlocator; fi
BIN="$(realpath "$BIN")"
WORK="$(mktemp -d)"
PORT="${PORT:-18765}"
export DATABASE_URL="sqlite://$WORK/contract.db?mode=rwc" PORT LOG_LEVEL=warn
# A deployment with both payment providers configured (recording a payment
# request calls neither), so 501 "not configured" is not what gets fuzzed.
export PAYPAL_CLIENT_ID=fuzz PAYPAL_SECRET=fuzz \
  TRANZILA_TERMINAL=fuzz TRANZILA_APP_KEY=fuzz TRANZILA_SECRET=fuzz
cd "$WORK"
"$BIN" migrate >/dev/null
BIZ=$("$BIN" business create --name "מספרת הדס" --phone +97235550123 | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
AGENTLOCATOR_PASSWORD=owner-pass-123 "$BIN" user create --email owner@example.com --role owner --business "$BIZ" >/dev/null
AGENTLOCATOR_PASSWORD=admin-pass-123 "$BIN" user create --email admin@example.com --role admin >/dev/null
"$BIN" serve >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
token() {
  curl -fs "http://127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])'
}
OWNER=$(token owner@example.com owner-pass-123)
ADMIN=$(token admin@example.com admin-pass-123)
status=0
for who in owner admin; do
  if [ "$who" = owner ]; then T=$OWNER; else T=$ADMIN; fi
  echo "== as $who"
  schemathesis run "http://127.0.0.1:$PORT/api/openapi.json" \
    --checks all --max-examples "$MAX_EXAMPLES" --workers 1 \
    -H "Authorization: Bearer $T" \
    --exclude-path /api/auth/login --exclude-path /api/auth/logout \
    --exclude-path /api/auth/password --exclude-path '/api/auth/sessions/{id}' \
    --exclude-path /api/crm/payments/create-intent \
    --no-color --report junit --report-junit-path "$WORK/junit-$who.xml" || status=1
done
if grep -q '"level":"ERROR"' "$WORK/serve.log"; then
  echo "the server logged errors:" >&2; grep '"level":"ERROR"' "$WORK/serve.log" | head >&2; status=1
fi
exit $status
