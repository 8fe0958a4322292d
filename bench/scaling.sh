#!/usr/bin/env bash
# authd-load against the local cluster (deploy/local-cluster.sh: replicas behind nginx) with 1, 2
# and 3 replicas, on a fresh database, printing the rate of each scenario and its ratio to one
# replica (docs/PERFORMANCE.md). On a machine with fewer cores than replicas, more replicas
# share the same cores: the figure then shows what replication costs, not what it buys.
#
#   bench/scaling.sh            # DURATION=10s CONCURRENCY=32 SCENARIOS="verify mixed"
#
# Needs what deploy/local-cluster.sh needs (nginx, Postgres, Redis) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
concurrency=${CONCURRENCY:-32}
scenarios=${SCENARIOS:-verify mixed}
port=${AUTHD_CLUSTER_PORT:-18480}
out=$(mktemp -d)
database="authd_scaling_$$"
cluster_pid=""
cleanup() {
  if [ -n "$cluster_pid" ]; then kill -TERM "$cluster_pid" 2>/dev/null || true; wait "$cluster_pid" 2>/dev/null || true; fi
  dropdb -h 127.0.0.1 -U postgres --if-exists "$database" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

cargo build --release --locked -p authd -p authd-load
createdb -h 127.0.0.1 -U postgres "$database"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
export AUTHD_REDIS_PREFIX="authd-scaling:$$:"
export AUTHD_MASTER_KEY=$(openssl rand -base64 32)
export AUTHD_RATE_LIMIT=100000000 AUTHD_LOG=warn
export AUTHD_CLUSTER_DIR="$out/cluster" AUTHD_CLUSTER_PORT=$port
target/release/authd migrate 2>/dev/null
client=$(target/release/authd clients create --name scaling 2>/dev/null |
  python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["client_id"] + ":" + c["client_secret"])')

for replicas in 1 2 3; do
  echo "==> $replicas replica(s)"
  deploy/local-cluster.sh "$replicas" >"$out/cluster-$replicas.txt" 2>&1 &
  cluster_pid=$!
  until grep -q "cluster ready" "$out/cluster-$replicas.txt"; do
    kill -0 "$cluster_pid" 2>/dev/null || { cat "$out/cluster-$replicas.txt" >&2; exit 1; }
    sleep 0.2
  done
  for scenario in $scenarios; do
    target/release/authd-load --target "http://127.0.0.1:$port" --scenario "$scenario" \
      --client "$client" --concurrency "$concurrency" --duration "$duration" \
      --json "$out/$replicas-$scenario.json" | sed 's/^/    /'
  done
  kill -TERM "$cluster_pid"
  wait "$cluster_pid" || true
  cluster_pid=""
done

python3 - "$out" "$(nproc)" $scenarios <<'PY'
import json, sys
out, cores, scenarios = sys.argv[1], sys.argv[2], sys.argv[3:]
r = lambda n, s: json.load(open(f"{out}/{n}-{s}.json"))
print(f"\nreplicas behind nginx on {cores} cores, {r(1, scenarios[0])['seconds']:.0f} s each")
print(f"{'replicas':<10}" + "".join(f"{s + ' rps':>16}{'vs 1':>7}{'p99 ms':>9}" for s in scenarios))
for n in (1, 2, 3):
    row = f"{n:<10}"
    for s in scenarios:
        row += f"{r(n, s)['rps']:>16.0f}{r(n, s)['rps'] / r(1, s)['rps']:>7.2f}{r(n, s)['latency_ms']['p99']:>9.2f}"
    print(row)
errors = {f"{n}-{s}": r(n, s)["errors"] for n in (1, 2, 3) for s in scenarios}
print(f"errors: {errors}")
PY
