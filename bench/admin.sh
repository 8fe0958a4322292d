#!/usr/bin/env bash
# The admin API at a million users (issue 36, docs/PERFORMANCE.md): one `authd serve` (release,
# default settings) on a database bench/seed.sh filled with USERS users, and wrk --latency at
# CONCURRENCY connections against a lookup by username (`?q=`), the paged listing (walking
# next_cursor) and a SCIM `userName eq` filter; prints each one's p50 and p99.
#
#   bench/admin.sh            # USERS=1000000 DURATION=10s CONCURRENCY=4
#
# Needs what the tests need (Postgres, Redis), wrk and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

users=${USERS:-1000000}
duration=${DURATION:-10s}
concurrency=${CONCURRENCY:-4}
database="authd_admin_bench_$$"
url_of() { echo "postgres://postgres@127.0.0.1:5432/$1"; }
out=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "$database" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

echo "==> building (release)"
cargo build --release --locked -p authd
authd=target/release/authd
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export AUTHD_MASTER_KEY=$(openssl rand -base64 32)
export AUTHD_RATE_LIMIT=100000000
export DATABASE_URL=$(url_of "$database")
export AUTHD_REDIS_PREFIX="authd-admin-bench:$$:"

createdb -h 127.0.0.1 -U postgres "$database"
"$authd" migrate 2>/dev/null
serve() {
  AUTHD_LISTEN=127.0.0.1:0 "$authd" serve --no-migrate >"$out/stdout" 2>"$out/stderr" &
  pid=$!
  url=""
  for _ in $(seq 1 2000); do
    url=$(sed -n 's/.*listening on //p' "$out/stdout" | head -n 1)
    [ -n "$url" ] && curl -fs "$url/readyz" >/dev/null && break
    sleep 0.01
  done
}
serve
curl -fs "$url/register" -H 'Content-Type: application/json' \
  -d '{"username":"template","email":"template@bench.example"}' >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true
echo "==> seeding $users users"
bench/seed.sh "$DATABASE_URL" "$users" 0 0 0
serve
admin=$("$authd" clients create --name bench-admin --scope authd:admin 2>/dev/null |
  python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["client_id"] + ":" + c["client_secret"])')
token=$(curl -fs "$url/oauth/token" -u "$admin" -d grant_type=client_credentials -d scope=authd:admin |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# Warm up: the first queries prepare their statements and read the indexes in.
for mode in lookup list scim; do
  MODE=$mode TOKEN=$token USERS=$users wrk -t1 -c1 -d2s -s bench/wrk/admin.lua "$url" >/dev/null
done
printf '\n%-10s %10s %10s %10s   (wrk -t2 -c%s -d%s --latency; target p99 <= 10 ms)\n' \
  mode "req/s" p50 p99 "$concurrency" "$duration"
for mode in lookup list scim; do
  MODE=$mode TOKEN=$token USERS=$users wrk -t2 -c"$concurrency" -d"$duration" --latency \
    -s bench/wrk/admin.lua "$url" >"$out/$mode.txt" 2>"$out/$mode.err"
  python3 - "$out/$mode.txt" "$mode" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = re.search(r"Requests/sec:\s*([\d.]+)", text).group(1)
p50 = re.search(r"\s50%\s+(\S+)", text).group(1)
p99 = re.search(r"\s99%\s+(\S+)", text).group(1)
print(f"{sys.argv[2]:<10} {float(rps):>10,.0f} {p50:>10} {p99:>10}")
PY
  if [ -s "$out/$mode.err" ]; then head -3 "$out/$mode.err"; fi
done
