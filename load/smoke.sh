#!/usr/bin/env bash
# A few seconds of load against a throwaway `authd dev`, closed and open model, asserting that
# every request was answered without error (not how fast). CI runs it; so can you.
#   load/smoke.sh [path/to/authd] [path/to/authd-load]
set -euo pipefail
cd "$(dirname "$0")/.."
authd=${1:-target/debug/authd}
load=${2:-target/debug/authd-load}
out=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT

# Login-heavy scenarios need a rate limit above what one load tool sends.
# Dynamic registration on: it is how the code-flow scenario gets its client from `authd dev`.
AUTHD_LISTEN=127.0.0.1:0 AUTHD_RATE_LIMIT=1000000 AUTHD_DYNAMIC_REGISTRATION=true \
  "$authd" dev >"$out/stdout" 2>"$out/stderr" &
pid=$!
for _ in $(seq 1 100); do
  url=$(sed -n 's/^authd listening on //p' "$out/stdout")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "${url:-}" ] || { cat "$out/stderr"; echo "authd dev did not start" >&2; exit 1; }

"$load" --target "$url" --scenario mixed --duration 3s --concurrency 8 --users 4 --strict \
  --json "$out/closed.json"
"$load" --target "$url" --scenario verify --duration 2s --rate 200 --users 4 --strict
grep -q '"errors": 0' "$out/closed.json"

client=$(curl -fs -H 'Content-Type: application/json' "$url/oauth/register" \
  -d '{"client_name":"load","redirect_uris":["http://127.0.0.1/callback"]}' |
  python3 -c 'import json, sys; c = json.load(sys.stdin); print(c["client_id"] + ":" + c["client_secret"])')
# With scope openid, so each flow also signs an ID token.
"$load" --target "$url" --scenario code-flow --client "$client" --scope openid --duration 2s \
  --concurrency 4 --users 2 --strict
echo "load smoke: no errors"
