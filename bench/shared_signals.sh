#!/usr/bin/env bash
# How soon a service built on authd-resource refuses a token whose session ended on another
# replica, by poll and by push, while both replicas serve `mixed` load (docs/PERFORMANCE.md;
# not in CI):
#
#   bench/shared_signals.sh        # SAMPLES=200 RATE=200 (requests/s of mixed load per replica)
#
# Two `authd serve` replicas (release build, default settings but for the test-only loopback
# switch) share a fresh database and Redis prefix. The service (resource/examples/
# revocation_latency.rs) follows its stream at the first; each session ends on the second.
set -euo pipefail
cd "$(dirname "$0")/.."

samples=${SAMPLES:-200}
rate=${RATE:-200}
out=$(mktemp -d)
pids=()
database="authd_ssf_bench_$$"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  dropdb -h 127.0.0.1 -U postgres --if-exists "$database" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

cargo build --release --locked -p authd -p authd-load
cargo build --release --locked -p authd-resource --example revocation_latency
authd=target/release/authd
load=target/release/authd-load
latency=target/release/examples/revocation_latency
createdb -h 127.0.0.1 -U postgres "$database"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export AUTHD_REDIS_PREFIX="authd-ssf-bench:$$:"
export AUTHD_MASTER_KEY=$(openssl rand -base64 32)
export AUTHD_RATE_LIMIT=100000000
# The service's push endpoint is on this machine.
export AUTHD_SSF_ALLOW_LOOPBACK=true
export AUTHD_ISSUER=http://authd.bench AUTHD_AUDIENCE=authd-bench
"$authd" migrate 2>/dev/null
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
load_client=$("$authd" clients create --name load 2>/dev/null |
  python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["client_id"] + ":" + c["client_secret"])')
receiver=$("$authd" clients create --name "orders service" --scope ssf:receiver 2>/dev/null)
receiver_id=$(json_field client_id <<<"$receiver")
receiver_secret=$(json_field client_secret <<<"$receiver")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
urls=()
for replica in 1 2; do
  # Each replica's public URL is its own address: the poll URL a stream is given must reach it.
  port=$(free_port)
  url="http://127.0.0.1:$port"
  AUTHD_LISTEN="127.0.0.1:$port" AUTHD_PUBLIC_URL="$url" "$authd" serve --no-migrate \
    >"$out/$replica.stdout" 2>"$out/$replica.stderr" &
  pids+=($!)
  until curl -fs "$url/readyz" >/dev/null; do sleep 0.05; done
  urls+=("$url")
done

for replica in 0 1; do
  "$load" --target "${urls[$replica]}" --scenario mixed --client "$load_client" \
    --rate "$rate" --duration 30m >"$out/load-$replica.txt" 2>&1 &
  pids+=($!)
done
sleep 3

run() { # run [--push PORT]
  "$latency" "${urls[0]}" "${urls[1]}" --issuer "$AUTHD_ISSUER" --audience "$AUTHD_AUDIENCE" \
    --client-id "$receiver_id" --client-secret "$receiver_secret" --samples "$samples" "$@"
}
echo "==> a session ended on replica B, refused by the service following replica A ($samples samples, mixed at $rate/s on each replica)"
run
run --push "$(free_port)"
