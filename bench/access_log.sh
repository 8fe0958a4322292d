#!/usr/bin/env bash
# What logging costs: three `authd serve` replicas on one database, side by side in alternating
# wrk rounds on /me, JWKS and introspection (docs/PERFORMANCE.md):
#   quiet    AUTHD_LOG=warn AUTHD_ACCESS_LOG=off   (the floor)
#   default  nothing set                           (AUTHD_LOG=info, AUTHD_ACCESS_LOG=writes)
#   all      AUTHD_ACCESS_LOG=all                  (a line per request)
# Each replica's stderr goes to a file, as under a container runtime.
#
#   bench/access_log.sh       # DURATION=10s CONCURRENCY=32 ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
concurrency=${CONCURRENCY:-32}
rounds=${ROUNDS:-3}
out=$(mktemp -d)
pids=()
database="authd_access_log_$$"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  dropdb -h 127.0.0.1 -U postgres --if-exists "$database" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

cargo build --release --locked -p authd -p authd-load -p authd-bare
authd=target/release/authd
createdb -h 127.0.0.1 -U postgres "$database"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export AUTHD_REDIS_PREFIX="authd-access-log:$$:"
export AUTHD_MASTER_KEY=$(openssl rand -base64 32)
export AUTHD_RATE_LIMIT=100000000
"$authd" migrate 2>/dev/null
client=$("$authd" clients create --name access-log 2>/dev/null |
  python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["client_id"] + ":" + c["client_secret"])')
basic=$(printf %s "$client" | base64 -w0)

declare -A urls
start() { # start <name> <env assignments...>
  local name=$1; shift
  env -u AUTHD_LOG -u AUTHD_ACCESS_LOG "$@" AUTHD_LISTEN=127.0.0.1:0 "$authd" serve --no-migrate \
    >"$out/$name.stdout" 2>"$out/$name.stderr" &
  pids+=($!)
  local url=""
  until [ -n "$url" ] && curl -fs "$url/readyz" >/dev/null; do
    sleep 0.05
    url=$(sed -n 's/.*listening on //p' "$out/$name.stdout" | head -n 1)
  done
  urls[$name]=$url
}
start quiet AUTHD_LOG=warn AUTHD_ACCESS_LOG=off
start default
start all AUTHD_ACCESS_LOG=all

base=${urls[quiet]}
password=$(curl -fs "$base/register" -H 'Content-Type: application/json' \
  -d '{"username":"logged","email":"logged@bench.example"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
token=$(curl -fs "$base/oauth/token" --data-urlencode grant_type=password \
  --data-urlencode username=logged --data-urlencode "password=$password" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

for round in $(seq 1 "$rounds"); do
  echo "==> round $round"
  for name in quiet default all; do
    u=${urls[$name]}
    wrk -t2 -c"$concurrency" -d"$duration" -H "Authorization: Bearer $token" "$u/me" \
      >"$out/me-$name-$round.txt"
    wrk -t2 -c"$concurrency" -d"$duration" "$u/.well-known/jwks.json" >"$out/jwks-$name-$round.txt"
    BODY="token=$token" BASIC=$basic wrk -t2 -c"$concurrency" -d"$duration" \
      -s bench/wrk/form.lua "$u/oauth/introspect" >"$out/introspect-$name-$round.txt"
  done
done
dropped=$(curl -fs "${urls[all]}/metrics" | awk '/^authd_log_lines_dropped_total/ {print $2}')

python3 - "$out" "$rounds" "${dropped:-0}" <<'EOF'
import re, sys
out, rounds, dropped = sys.argv[1], int(sys.argv[2]), sys.argv[3]
median = lambda values: sorted(values)[len(values) // 2]
rps = lambda path, name, i: float(re.search(r"Requests/sec:\s*([\d.]+)",
                                            open(f"{out}/{path}-{name}-{i}.txt").read()).group(1))
print()
print(f"{'':<14}{'quiet':>10}{'default':>10}{'all':>10}   default / quiet   all / quiet   (medians of {rounds} rounds)")
for path in ["me", "jwks", "introspect"]:
    values = {n: median([rps(path, n, i) for i in range(1, rounds + 1)]) for n in ["quiet", "default", "all"]}
    ratio = lambda n: median([rps(path, n, i) / rps(path, "quiet", i) for i in range(1, rounds + 1)])
    print(f"{path:<14}{values['quiet']:>10,.0f}{values['default']:>10,.0f}{values['all']:>10,.0f}"
          f"   {ratio('default'):>15.2f}   {ratio('all'):>11.2f}")
print(f"\nlines dropped by the 'all' replica: {dropped}")
EOF
