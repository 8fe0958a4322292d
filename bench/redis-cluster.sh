#!/usr/bin/env bash
# authd on a Redis Cluster against authd on one Redis node, side by side on this machine
# (docs/PERFORMANCE.md#redis-cluster):
#
#   bench/redis-cluster.sh        # DURATION=8s CONCURRENCY=32 ROUNDS=3 by default
#
# Two `authd serve` (release build) on one fresh database: one with REDIS_URL the local node
# (127.0.0.1:6379), one on the local cluster (tests/redis-cluster.sh, three masters and three
# replicas on this same machine). Each scenario that touches Redis loads one, then the other,
# ROUNDS times alternating (this machine's throughput drifts between runs a minute apart, so a
# ratio means something only between runs made side by side); it prints cluster / node for each
# round and the median. Needs what the tests need (Postgres, Redis, redis-server) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-8s}
concurrency=${CONCURRENCY:-32}
rounds=${ROUNDS:-3}
out=$(mktemp -d)
database="authd_redis_cluster_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "$database" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

echo "==> building (release)"
cargo build --release --locked -p authd -p authd-load
authd=target/release/authd
load=target/release/authd-load

echo "==> the local Redis Cluster (tests/redis-cluster.sh)"
bash tests/redis-cluster.sh start
cluster_url=$(bash tests/redis-cluster.sh url)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

createdb -h 127.0.0.1 -U postgres "$database"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
export AUTHD_MASTER_KEY=$(openssl rand -base64 32)
export AUTHD_RATE_LIMIT=100000000 AUTHD_LOG=warn
REDIS_URL=redis://127.0.0.1:6379 "$authd" migrate 2>/dev/null

start() { # start <name> <redis url>: an `authd serve` on its own port; sets $url
  local name=$1 redis=$2 port
  port=$(free_port)
  url="http://127.0.0.1:$port"
  REDIS_URL=$redis AUTHD_REDIS_PREFIX="authd-bench-$name:$$:" AUTHD_LISTEN="127.0.0.1:$port" \
    AUTHD_ISSUER=$url AUTHD_PUBLIC_URL=$url "$authd" serve --no-migrate \
    >"$out/$name.stdout" 2>"$out/$name.stderr" &
  pids+=($!)
  for _ in $(seq 1 600); do
    curl -fs "$url/readyz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  cat "$out/$name.stderr" >&2
  echo "authd ($name) did not start" >&2
  exit 1
}
start node redis://127.0.0.1:6379
node_url=$url
start cluster "$cluster_url"
cluster_url_http=$url

# One client for every grant the load uses (both servers share the database).
client=$(REDIS_URL=redis://127.0.0.1:6379 AUTHD_REDIS_PREFIX="authd-bench-node:$$:" \
  "$authd" clients create --name bench --redirect-uri http://127.0.0.1/callback \
    --grant-type authorization_code --grant-type refresh_token --grant-type client_credentials |
  python3 -c 'import json, sys; c = json.load(sys.stdin); print(c["client_id"] + ":" + c["client_secret"])')

# Scenarios whose requests touch Redis (rate limits, nonces, codes, PAR), and verification,
# which should not (memory) and so shows the noise floor.
scenarios=(client-credentials refresh code-flow mixed verify)
for round in $(seq 1 "$rounds"); do
  for scenario in "${scenarios[@]}"; do
    for side in node cluster; do
      if [ "$side" = node ]; then target=$node_url; else target=$cluster_url_http; fi
      "$load" --target "$target" --scenario "$scenario" --client "$client" --duration "$duration" \
        --concurrency "$concurrency" --users 16 --json "$out/$scenario-$side-$round.json" >/dev/null
      printf '    round %s %-20s %-8s %8.0f requests/s\n' "$round" "$scenario" "$side" \
        "$(python3 -c "import json; print(json.load(open('$out/$scenario-$side-$round.json'))['rps'])")"
    done
  done
done

echo "==> cluster / node, median of $rounds rounds"
python3 - "$out" "$rounds" "${scenarios[@]}" <<'EOF'
import json, statistics, sys
out, rounds, scenarios = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def load(scenario, side, round_):
    return json.load(open(f"{out}/{scenario}-{side}-{round_}.json"))
for scenario in scenarios:
    ratios, errors = [], 0
    for r in range(1, rounds + 1):
        node, cluster = load(scenario, "node", r), load(scenario, "cluster", r)
        ratios.append(cluster["rps"] / node["rps"])
        errors += node["errors"] + cluster["errors"]
    rounds_text = " ".join(f"{x:.2f}" for x in ratios)
    print(f"{scenario:<20} {statistics.median(ratios):.2f}   (rounds: {rounds_text}; errors: {errors})")
EOF
