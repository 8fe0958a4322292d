#!/usr/bin/env bash
# docker-compose.yml, built and run for real on a local container engine, then tested through
# nginx on a published loopback port, then broken under load. CI runs it (.ci/run); so can you:
#
#   bash deploy/compose-test.sh            # everything: engine, images, cluster, smoke, faults
#   FAULTS=0 bash deploy/compose-test.sh   # up to the smoke test
#   KEEP=1 bash deploy/compose-test.sh     # leave the cluster running afterwards
#   REDIS_CLUSTER=0 bash deploy/compose-test.sh  # skip the redis-cluster profile (step 6)
#
# 1. Installs docker.io, docker-compose and debootstrap if missing; starts dockerd if it is not
#    running (these machines have no systemd).
# 2. Builds the registry-free stand-ins for the images the compose file pulls
#    (deploy/standins/build.sh; cached between runs on the same machine).
# 3. Runs the real docker-compose.yml with deploy/compose.standins.yml over it, `up --build`:
#    deploy/Dockerfile itself builds the image, on the stand-in base images.
# 4. tests/containers/smoke.py: register, token, verification on every replica, JWKS, /readyz.
# 5. tests/containers/faults.py: restart and kill replicas, pause Redis and Postgres, cut a
#    replica off the network, all under authd-load's steady mixed load.
# 6. The compose file's redis-cluster profile (six Redis nodes made one cluster), the replicas on
#    it through REDIS_URL, and the smoke test again.
# Everything stays on this machine: the compose network and a port published on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

project=${COMPOSE_PROJECT:-authd-ci}
port=${AUTHD_HTTP_PORT:-18080}
base="http://127.0.0.1:$port"
load=${AUTHD_LOAD:-target/debug/authd-load}
report=${FAULTS_REPORT:-target/compose-faults.json}
compose_cmd="docker-compose -p $project -f docker-compose.yml -f deploy/compose.standins.yml"
compose() { $compose_cmd "$@"; }

step() { printf '\n--> %s\n' "$*"; }
wait_ready() { # up to 3 minutes for nginx to answer /readyz with 200
  for _ in $(seq 1 180); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] && return
    sleep 1
  done
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_engine() {
  command -v dockerd >/dev/null || apt_install docker.io
  command -v docker-compose >/dev/null || apt_install docker-compose
  command -v debootstrap >/dev/null || apt_install debootstrap
  if docker info >/dev/null 2>&1; then return; fi
  step "starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 0.5
  done
  tail -n 20 /var/log/dockerd.log >&2
  echo "dockerd did not start" >&2
  return 1
}

cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    echo "compose test failed; the services' last log lines:" >&2
    compose logs --no-color --tail 30 >&2 || true
  fi
  if [ -z "${KEEP:-}" ]; then compose down -v --remove-orphans >/dev/null 2>&1 || true; fi
  exit "$status"
}

step "container engine"
ensure_engine
docker version --format 'engine {{.Server.Version}}'
docker-compose version --short

step "stand-in images (deploy/standins/build.sh)"
bash deploy/standins/build.sh

if [ "${FAULTS:-1}" = 1 ] && [ ! -x "$load" ]; then
  step "authd-load"
  cargo build --locked -p authd-load
fi

step "docker-compose up --build (project $project, nginx on $base)"
compose down -v --remove-orphans >/dev/null 2>&1 || true
trap cleanup EXIT
# Logins through one load balancer all come from one address: lift the per-IP limit for the load.
export AUTHD_HTTP_PORT=$port AUTHD_RATE_LIMIT=1000000
# The mail catcher's web UI and API, where the smoke test finds the confirmation mail.
mail_port=${AUTHD_MAIL_UI_PORT:-18025}
export AUTHD_MAIL_UI_PORT=$mail_port
# The compose file's own Redis first (a REDIS_URL in the caller's shell would pass through).
unset REDIS_URL
started=$(date +%s)
compose build --quiet 2>&1 | grep -v -e '^DEPRECATED' -e 'legacy builder' -e 'buildx' -e '^ *$' || true
compose up -d
wait_ready
compose ps
echo "built and ready in $(( $(date +%s) - started )) s"

step "smoke test through nginx (tests/containers/smoke.py)"
python3 tests/containers/smoke.py --base "$base" --project "$project" \
  --mail "http://127.0.0.1:$mail_port"

if [ "${FAULTS:-1}" = 1 ]; then
  step "faults under load (tests/containers/faults.py)"
  client=$(compose exec -T authd-1 authd clients create --name compose-load --scope "" |
    python3 -c 'import json, sys; c = json.load(sys.stdin); print(c["client_id"] + ":" + c["client_secret"])')
  mkdir -p "$(dirname "$report")"
  python3 tests/containers/faults.py --base "$base" --project "$project" \
    --compose "$compose_cmd" --load "$load" --client "$client" --report "$report"
fi
if [ "${REDIS_CLUSTER:-1}" = 1 ]; then
  step "the redis-cluster profile: the replicas on six Redis containers, smoke test"
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  export REDIS_URL=redis+cluster://redis-node-1:6379,redis-node-2:6379,redis-node-3:6379
  compose_cmd="$compose_cmd --profile redis-cluster"
  started=$(date +%s)
  compose up -d
  wait_ready
  compose ps
  echo "ready on the Redis Cluster in $(( $(date +%s) - started )) s"
  python3 tests/containers/smoke.py --base "$base" --project "$project" \
  --mail "http://127.0.0.1:$mail_port"
fi
echo "compose test passed"
