#!/usr/bin/env bash
# Runs schemathesis (pinned in tests/python/requirements.lock) against a real `promptops serve`
# on SQLite with a bootstrapped super-admin token: every route of the OpenAPI document is called
# with generated valid and invalid input, and no answer may be a 500 or miss its schema.
# Usage: tests/api-fuzz/run.sh [MAX_EXAMPLES per operation, default 20] [PROMPTOPS binary]
set -euo pipefail
cd "$(dirname "$0")/../.."

examples="${1:-20}"
binary="${2:-target/debug/promptops}"
venv="$(bash tests/python/venv.sh)"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="pot_fuzz_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
base="http://127.0.0.1:$port"
# Rate limits off: the fuzzer sends thousands of requests with one token.
PROMPTOPS_ADMIN_TOKEN="$token" "$binary" serve --addr "127.0.0.1:$port" \
  --database "sqlite://$work/promptops.db" --rate-limit 0 --log warn >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

# A project the project routes can find, so they are exercised past their 404.
curl -fsS -X POST "$base/api/v1/projects" -H "Authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"id": "web"}' >/dev/null

status=0
"$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" \
  --seed 13 \
  --request-timeout 10 \
  --exclude-path /metrics \
  --suppress-health-check all \
  --no-color \
  >"$work/report.txt" 2>&1 || status=$?
tail -n 60 "$work/report.txt"
if [ "$status" -ne 0 ]; then
  echo "--- server log (last lines)"
  tail -n 30 "$work/server.log"
fi
exit "$status"
