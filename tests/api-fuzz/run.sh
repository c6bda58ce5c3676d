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
# Rate limits off: the fuzzer sends thousands of requests with one token, and many with none or
# a wrong one (the gateway routes take other keys), which would throttle its address.
PROMPTOPS_ADMIN_TOKEN="$token" "$binary" serve --addr "127.0.0.1:$port" \
  --database "sqlite://$work/promptops.db" --rate-limit 0 --auth-failure-limit 0 --log warn >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

# The project the project routes name (see the parameters below).
post() { curl -fsS -X POST "$base$1" -H "Authorization: Bearer $token" -H 'content-type: application/json' -d "$2"; }
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
post /api/v1/projects '{"id": "web"}' >/dev/null
# Credentials of the other two schemes: a Langfuse key pair (HTTP Basic) and a gateway key.
pair="$(post /api/v1/projects/web/keys '{"role": "admin"}')"
basic="$(field public_key <<<"$pair"):$(field secret_key <<<"$pair")"
gateway_key="$(post /api/v1/projects/web/gateway/keys '{"name": "fuzz"}' | field key)"

# Every project route names that project, so that it is exercised past its 404.
printf '[parameters]\n"path.project" = "web"\n' >"$work/schemathesis.toml"

# One pass per credential scheme, each over the routes that take it.
status=0
fuzz() {
  local what="$1"
  shift
  echo "=== $what"
  "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/api/v1/openapi.json" \
    --url "$base" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$examples" \
    --seed 13 \
    --request-timeout 10 \
    --suppress-health-check all \
    --no-color \
    "$@" >"$work/report.txt" 2>&1 || status=$?
  tail -n 40 "$work/report.txt"
}
fuzz "API token (/api/v1)" --header "Authorization: Bearer $token" \
  --exclude-path /metrics --exclude-path-regex '^/(v1|api/public)/'
fuzz "Langfuse key pair (/api/public)" --auth "$basic" --include-path-regex '^/api/public/'
fuzz "gateway key (/v1)" --header "Authorization: Bearer $gateway_key" --include-path-regex '^/v1/'
if [ "$status" -ne 0 ]; then
  echo "--- server log (last lines)"
  tail -n 30 "$work/server.log"
fi
exit "$status"
