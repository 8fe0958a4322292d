#!/usr/bin/env bash
# authd at scale, side by side with an empty database in one run (docs/PERFORMANCE.md):
#
#   bench/scale.sh            # DURATION=10s CONCURRENCY=32; the seed's sizes as bench/seed.sh
#
# Two databases, both migrated and given one user through the API: one stays empty, the other is
# filled by bench/seed.sh (1M users, 100k clients, 1M sessions, 200k live revocations). One
# `authd serve` (release build, default settings) on each; then, in alternating rounds, the
# password grant (authd-load), client_credentials, introspection and /me (wrk) against each, and
# the ratios seeded / empty. Also: start to ready on the seeded database (its 200k revocations
# loaded into memory), each replica's RSS after the runs and with its verified-token cache
# filled, and how long each takes to follow the invalidation channel again (caches cleared,
# revocations reloaded) after Redis drops its subscription. Needs what the tests need (Postgres, Redis), wrk and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
concurrency=${CONCURRENCY:-32}
out=$(mktemp -d)
pids=()
empty_db="authd_scale_empty_$$"
seeded_db="authd_scale_seeded_$$"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for db in "$empty_db" "$seeded_db"; do
    dropdb -h 127.0.0.1 -U postgres --if-exists "$db" 2>/dev/null || true
  done
  rm -rf "$out"
}
trap cleanup EXIT

echo "==> building (release)"
cargo build --release --locked -p authd -p authd-load -p authd-bare
authd=target/release/authd
load=target/release/authd-load
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export AUTHD_MASTER_KEY=$(openssl rand -base64 32)
export AUTHD_RATE_LIMIT=100000000

db_url() { echo "postgres://postgres@127.0.0.1:5432/$1"; }

start() { # start <name> <database>: serves it, waits until ready; sets $url, $pid, $ready_ms
  local began
  began=$(date +%s%N)
  DATABASE_URL=$(db_url "$2") AUTHD_REDIS_PREFIX="authd-scale:$$:$1:" AUTHD_LISTEN=127.0.0.1:0 \
    "$authd" serve --no-migrate >"$out/$1.stdout" 2>"$out/$1.stderr" &
  pid=$!
  pids+=("$pid")
  url=""
  for _ in $(seq 1 2000); do
    url=$(sed -n 's/.*listening on //p' "$out/$1.stdout" | head -n 1)
    [ -n "$url" ] && curl -fs "$url/readyz" >/dev/null && break
    sleep 0.005
  done
  ready_ms=$(( ($(date +%s%N) - began) / 1000000 ))
}

prepare() { # prepare <name> <database>: migrates, makes one user and a client; "id:secret"
  createdb -h 127.0.0.1 -U postgres "$2"
  DATABASE_URL=$(db_url "$2") "$authd" migrate 2>/dev/null
  start "$1-prepare" "$2"
  curl -fs "$url/register" -H 'Content-Type: application/json' \
    -d "{\"username\":\"template\",\"email\":\"template@bench.example\"}" >/dev/null
  kill "$pid"
  DATABASE_URL=$(db_url "$2") "$authd" clients create --name scale 2>/dev/null |
    python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["client_id"] + ":" + c["client_secret"])'
}

echo "==> two databases"
empty_client=$(prepare empty "$empty_db")
seeded_client=$(prepare seeded "$seeded_db")
bench/seed.sh "$(db_url "$seeded_db")" "${USERS:-1000000}" "${CLIENTS:-100000}" \
  "${SESSIONS:-1000000}" "${REVOCATIONS:-200000}"

start empty "$empty_db"
empty_url=$url; empty_pid=$pid; empty_ready=$ready_ms
start seeded "$seeded_db"
seeded_url=$url; seeded_pid=$pid; seeded_ready=$ready_ms
echo "    start to ready: empty ${empty_ready} ms, seeded ${seeded_ready} ms"

token_for() { # token_for <url> <client>: a user's bearer token (password grant)
  local password
  password=$(curl -fs "$1/register" -H 'Content-Type: application/json' \
    -d '{"username":"scale-me","email":"scale-me@bench.example"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
  curl -fs "$1/oauth/token" --data-urlencode grant_type=password \
    --data-urlencode username=scale-me --data-urlencode "password=$password" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
empty_token=$(token_for "$empty_url")
seeded_token=$(token_for "$seeded_url")

wrk_run() { # wrk_run <label> <wrk arguments...>
  wrk -t2 -c"$concurrency" -d"$duration" "$@" >"$out/wrk-$1.txt" 2>&1 || true
}
for round in 1 2 3; do
  echo "==> round $round"
  for side in empty seeded; do
    if [ "$side" = empty ]; then u=$empty_url; c=$empty_client; t=$empty_token
    else u=$seeded_url; c=$seeded_client; t=$seeded_token; fi
    basic=$(printf %s "$c" | base64 -w0)
    wrk -t2 -c"$concurrency" -d"$duration" -H "Authorization: Bearer $t" "$u/me" \
      >"$out/wrk-me-$side-$round.txt"
    BODY="token=$t" BASIC=$basic wrk -t2 -c"$concurrency" -d"$duration" -s bench/wrk/form.lua \
      "$u/oauth/introspect" >"$out/wrk-introspect-$side-$round.txt"
    BODY=grant_type=client_credentials BASIC=$basic wrk -t2 -c"$concurrency" -d"$duration" \
      -s bench/wrk/form.lua "$u/oauth/token" >"$out/wrk-client-credentials-$side-$round.txt"
    "$load" --target "$u" --scenario login --duration "$duration" --concurrency 8 \
      --json "$out/login-$side-$round.json" >/dev/null
  done
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
empty_rss=$(rss "$empty_pid"); seeded_rss=$(rss "$seeded_pid")
echo "==> the verified-token caches filled (30 s each)"
for side in empty seeded; do
  if [ "$side" = empty ]; then u=$empty_url; c=$empty_client; else u=$seeded_url; c=$seeded_client; fi
  BASIC=$(printf %s "$c" | base64 -w0) wrk -t2 -c"$concurrency" -d30s -s bench/wrk/fill.lua "$u" \
    >/dev/null
done
empty_full=$(rss "$empty_pid"); seeded_full=$(rss "$seeded_pid")

echo "==> the channel lost and followed again (both replicas' subscriptions killed in Redis)"
following() { grep -c 'following the invalidation channel' "$out/$1.stderr" || true; }
catch_up_ms() { # catch_up_ms <name> <count before> <killed at, ns>: until its next "following" line
  until [ "$(following "$1")" -gt "$2" ]; do sleep 0.005; done
  echo $(( ($(date +%s%N) - $3) / 1000000 ))
}
for round in 1 2 3; do
  empty_before=$(following empty); seeded_before=$(following seeded)
  killed=$(date +%s%N)
  redis-cli -u "$REDIS_URL" CLIENT KILL TYPE pubsub >/dev/null
  catch_up_ms empty "$empty_before" "$killed" >"$out/catch-up-empty-$round"
  catch_up_ms seeded "$seeded_before" "$killed" >"$out/catch-up-seeded-$round"
  sleep 1
done

python3 - "$out" "$empty_ready" "$seeded_ready" "$empty_rss" "$seeded_rss" "$empty_full" "$seeded_full" <<'EOF'
import json, re, sys
out, empty_ready, seeded_ready, *kib = sys.argv[1:]
empty_rss, seeded_rss, empty_full, seeded_full = (int(k) / 1024 for k in kib)
rounds = (1, 2, 3)
median = lambda values: sorted(values)[len(values) // 2]
def wrk(name, side, i):
    text = open(f"{out}/wrk-{name}-{side}-{i}.txt").read()
    return float(re.search(r"Requests/sec:\s*([\d.]+)", text).group(1))
def login(side, i):
    return json.load(open(f"{out}/login-{side}-{i}.json"))["rps"]
print()
print(f"{'':<34}{'empty':>12}{'seeded':>12}   seeded / empty (median of 3 rounds; target >= 0.9)")
for name in ["me", "introspect", "client-credentials"]:
    e = median([wrk(name, "empty", i) for i in rounds])
    s = median([wrk(name, "seeded", i) for i in rounds])
    ratio = median([wrk(name, "seeded", i) / wrk(name, "empty", i) for i in rounds])
    print(f"{name:<34}{e:>12,.0f}{s:>12,.0f}   {ratio:.2f}")
e = median([login("empty", i) for i in rounds])
s = median([login("seeded", i) for i in rounds])
ratio = median([login("seeded", i) / login("empty", i) for i in rounds])
print(f"{'login (password grant)':<34}{e:>12,.1f}{s:>12,.1f}   {ratio:.2f}")
print(f"{'start to ready (ms)':<34}{int(empty_ready):>12}{int(seeded_ready):>12}   target <= 2000 ms seeded")
print(f"{'RSS after the rounds (MB)':<34}{empty_rss:>12.1f}{seeded_rss:>12.1f}")
print(f"{'RSS, token cache filled (MB)':<34}{empty_full:>12.1f}{seeded_full:>12.1f}   target <= 150 MB")
catch_up = {side: median([int(open(f"{out}/catch-up-{side}-{i}").read()) for i in rounds])
            for side in ("empty", "seeded")}
print(f"{'channel lost to caught up (ms)':<34}{catch_up['empty']:>12}{catch_up['seeded']:>12}   "
      "median of 3; target <= 1000 ms (500 ms of it the wait before resubscribing)")
EOF
