#!/usr/bin/env bash
# Schema conformance: starts `authd serve` on a database and Redis prefix of its own, then runs
# schemathesis (PyPI) against its /openapi.json with every check: no 5xx, every status and body
# as documented, 405s with `Allow`, schema-valid requests accepted (tests/schemathesis.toml
# lists the refusals a schema cannot express). Protected operations get a real bearer token.
#
#   bash tests/schemathesis.sh                 # after `cargo build`; MAX_TIME=120 by default
#   MAX_TIME=600 bash tests/schemathesis.sh    # a longer hunt
set -euo pipefail
cd "$(dirname "$0")/.."

AUTHD=${AUTHD:-target/debug/authd}
MAX_TIME=${MAX_TIME:-120}
PORT=${PORT:-18099}
BASE="http://127.0.0.1:$PORT"
DB="authd_schemathesis_$$"
PREFIX="authd-schemathesis:$$:"
command -v schemathesis >/dev/null || python3 -m pip install --quiet --disable-pip-version-check schemathesis==4.32.5

work=$(mktemp -d)
cleanup() {
  if [ -n "${authd_pid:-}" ]; then kill "$authd_pid" 2>/dev/null || true; wait "$authd_pid" 2>/dev/null || true; fi
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "${PREFIX}*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB" >/dev/null
# Limits high enough that a fuzzing client is not just rate limited; cheap Argon2.
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" \
REDIS_URL="redis://127.0.0.1:6379" AUTHD_REDIS_PREFIX="$PREFIX" \
AUTHD_MASTER_KEY="$(head -c 32 /dev/urandom | base64)" \
AUTHD_ISSUER="$BASE" AUTHD_RATE_LIMIT=1000000 AUTHD_LOGIN_FAILURE_LIMIT=1000000 \
AUTHD_ARGON2_MEMORY_KIB=1024 AUTHD_ARGON2_ITERATIONS=1 RUST_LOG=warn \
  "$AUTHD" serve --listen "127.0.0.1:$PORT" >"$work/authd.log" 2>&1 &
authd_pid=$!
for _ in $(seq 1 100); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$BASE/readyz" >/dev/null || { cat "$work/authd.log"; exit 1; }

password=$(curl -fs -H 'Content-Type: application/json' \
  -d '{"username":"schemathesis","email":"schemathesis@example.com"}' "$BASE/register" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
token() {
  curl -fs -H 'Content-Type: application/json' \
    -d "{\"username\":\"schemathesis\",\"password\":\"$password\"}" "$BASE/auth" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

run() { # run <max seconds> <schemathesis options...>
  local seconds=$1; shift
  schemathesis --config-file tests/schemathesis.toml run "$BASE/openapi.json" \
    --checks all --workers 1 --max-time "$seconds" --continue-on-failure \
    --header "Authorization: Bearer $(token)" "$@"
}

status=0
# Logging out revokes the token every later request uses: it gets a run (and a token) of its own.
run "$MAX_TIME" --exclude-path /logout ${ONLY:+--include-path "$ONLY"} || status=$?
run $(( MAX_TIME / 6 + 5 )) --include-path /logout || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- authd's log (warnings and errors) ---"
  tail -n 50 "$work/authd.log"
fi
exit "$status"
