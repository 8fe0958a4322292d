#!/usr/bin/env bash
# A soak: `mixed` load at a steady rate on two replicas for a long while, watching what must
# stay flat (docs/PERFORMANCE.md; not in CI):
#
#   bench/soak.sh             # MINUTES=30 RATE=300 (requests/s in all, half per replica)
#
# Two `authd serve` replicas (release build, default settings) share a fresh database and Redis
# prefix; authd-load sends `mixed` at RATE/2 to each in the open model (on schedule, whatever the
# answers). Every minute it samples each replica's RSS and the Redis and Postgres connection
# counts; at the end it prints them, the errors, and each replica's RSS at the end against its
# RSS at minute 5 (target: within 10%).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${MINUTES:-30}
rate=${RATE:-300}
out=$(mktemp -d)
pids=()
database="authd_soak_$$"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  dropdb -h 127.0.0.1 -U postgres --if-exists "$database" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

cargo build --release --locked -p authd -p authd-load -p authd-bare
authd=target/release/authd
load=target/release/authd-load
createdb -h 127.0.0.1 -U postgres "$database"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export AUTHD_REDIS_PREFIX="authd-soak:$$:"
export AUTHD_MASTER_KEY=$(openssl rand -base64 32)
export AUTHD_RATE_LIMIT=100000000
# authd-load signs its users in once, before it measures, and verifies their tokens from then
# on: tokens must outlive the soak (at the default 15 minutes, every verification after that is
# a correct 401).
export AUTHD_ACCESS_TOKEN_TTL=$(( ${MINUTES:-30} + 30 ))m
"$authd" migrate 2>/dev/null
client=$("$authd" clients create --name soak 2>/dev/null |
  python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["client_id"] + ":" + c["client_secret"])')

urls=()
replica_pids=()
for replica in 1 2; do
  AUTHD_LISTEN=127.0.0.1:0 "$authd" serve --no-migrate >"$out/$replica.stdout" 2>"$out/$replica.stderr" &
  pids+=($!)
  replica_pids+=($!)
  url=""
  until [ -n "$url" ] && curl -fs "$url/readyz" >/dev/null; do
    sleep 0.05
    url=$(sed -n 's/.*listening on //p' "$out/$replica.stdout" | head -n 1)
  done
  urls+=("$url")
done

for replica in 0 1; do
  "$load" --target "${urls[$replica]}" --scenario mixed --client "$client" \
    --rate $((rate / 2)) --duration "${minutes}m" --json "$out/load-$replica.json" \
    >"$out/load-$replica.txt" 2>&1 &
  pids+=($!)
done
load_pids=("${pids[@]: -2}")

sample() { # minute, RSS of each replica (KiB), Redis clients, Postgres connections to the database
  local rss1 rss2 redis postgres
  rss1=$(awk '/VmRSS/ {print $2}' "/proc/${replica_pids[0]}/status")
  rss2=$(awk '/VmRSS/ {print $2}' "/proc/${replica_pids[1]}/status")
  redis=$(redis-cli -u "$REDIS_URL" info clients | awk -F: '/^connected_clients/ {print $2}' | tr -d '\r')
  postgres=$(psql -tA "$DATABASE_URL" -c \
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
  echo "$1 $rss1 $rss2 $redis $postgres" | tee -a "$out/samples.txt"
}
echo "==> $minutes minutes of mixed at $rate/s (minute, RSS A KiB, RSS B KiB, Redis clients, Postgres connections)"
for minute in $(seq 1 "$minutes"); do
  sleep 60
  sample "$minute"
done
for pid in "${load_pids[@]}"; do wait "$pid" || true; done
cat "$out"/load-*.txt

python3 - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
samples = [list(map(int, line.split())) for line in open(f"{out}/samples.txt")]
by_minute = {row[0]: row for row in samples}
five, last = by_minute.get(5, samples[0]), samples[-1]
loads = [json.load(open(f"{out}/load-{i}.json")) for i in (0, 1)]
errors = sum(load["errors"] for load in loads)
requests = sum(load["requests"] for load in loads)
print()
print(f"requests {requests:,}, errors {errors}")
for replica, column in (("A", 1), ("B", 2)):
    change = last[column] / five[column] - 1
    print(f"replica {replica}: RSS {five[column]/1024:.1f} MB at minute 5, {last[column]/1024:.1f} MB at the end "
          f"({change:+.1%}; target within 10%)")
redis = [row[3] for row in samples]
postgres = [row[4] for row in samples]
print(f"Redis clients: min {min(redis)}, max {max(redis)}; Postgres connections: min {min(postgres)}, max {max(postgres)}")
EOF
