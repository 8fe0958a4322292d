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

MAX_TIME=${MAX_TIME:-120}
command -v schemathesis >/dev/null || python3 -m pip install --quiet --disable-pip-version-check schemathesis==4.32.5

# Limits high enough that a fuzzing client is not just rate limited.
export AUTHD_RATE_LIMIT=1000000 AUTHD_LOGIN_FAILURE_LIMIT=1000000
# Dynamic registration on, so /oauth/register is fuzzed rather than only answering 404.
export AUTHD_DYNAMIC_REGISTRATION=true
source tests/serve_authd.sh
serve_authd schemathesis "${PORT:-18099}"

password=$(curl -fs -H 'Content-Type: application/json' \
  -d '{"username":"schemathesis","email":"schemathesis@example.com"}' "$BASE/register" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
token() {
  curl -fs -H 'Content-Type: application/json' \
    -d "{\"username\":\"schemathesis\",\"password\":\"$password\"}" "$BASE/auth" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

# The admin API's operations get a token of a client with `authd:admin`, made as an operator
# makes one.
admin=$(DATABASE_URL="postgres://postgres@127.0.0.1:5432/$SERVED_DB" "${AUTHD:-target/debug/authd}" \
  clients create --client-id schemathesis-admin --name "schemathesis admin" --scope authd:admin |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
admin_token() {
  curl -fs -u "schemathesis-admin:$admin" -d grant_type=client_credentials -d scope=authd:admin \
    "$BASE/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# The Shared Signals operations get a receiver's token (a client with `ssf:receiver`).
receiver=$(DATABASE_URL="postgres://postgres@127.0.0.1:5432/$SERVED_DB" "${AUTHD:-target/debug/authd}" \
  clients create --client-id schemathesis-receiver --name "schemathesis receiver" --scope ssf:receiver |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
receiver_token() {
  curl -fs -u "schemathesis-receiver:$receiver" -d grant_type=client_credentials -d scope=ssf:receiver \
    "$BASE/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# Every check is on by default. `--checks all` is not given: schemathesis 4.32 lets it override
# the per-operation exceptions in tests/schemathesis.toml (a check named on the command line wins
# over `enabled = false` in the file), and the stateful phase then reported ending a user's
# sessions as a "deleted resource still available".
run() { # run <max seconds> <token> <schemathesis options...>
  local seconds=$1 bearer=$2; shift 2
  schemathesis --config-file tests/schemathesis.toml run "$BASE/openapi.json" \
    --workers 1 --max-time "$seconds" --continue-on-failure \
    --header "Authorization: Bearer $bearer" "$@"
}

status=0
# Logging out revokes the token every later request uses, and an immediate key rotation retires
# the key that signed it: each gets a run (and a token) of its own. The admin run comes after
# the user's runs (it may disable or delete that user), and the rotation last, with a token
# taken first (the admin run may rotate its own client's secret). The Shared Signals run
# comes before the admin run too, which may delete the receiver's client.
rotation_token=$(admin_token)
run "$MAX_TIME" "$(token)" --exclude-path-regex '^/(logout|admin|ssf)' \
  ${ONLY:+--include-path "$ONLY"} || status=$?
run $(( MAX_TIME / 6 + 5 )) "$(token)" --include-path /logout || status=$?
run $(( MAX_TIME / 4 + 5 )) "$(receiver_token)" --include-path-regex '^/(ssf/|\.well-known/ssf)' \
  || status=$?
run $(( MAX_TIME / 2 + 5 )) "$(admin_token)" --include-path-regex '^/admin' \
  --exclude-path /admin/keys/rotate || status=$?
run $(( MAX_TIME / 12 + 5 )) "$rotation_token" --include-path /admin/keys/rotate || status=$?
if [ "$status" -ne 0 ]; then show_authd_log; fi
exit "$status"
