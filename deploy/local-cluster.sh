#!/usr/bin/env bash
# A local authd cluster without containers: N replicas (default 3) of `authd serve` on this
# machine's Postgres and Redis, behind nginx on one port. Runs in the foreground; Ctrl-C or
# SIGTERM stops everything (replicas drain their in-flight requests first).
#
#   deploy/local-cluster.sh 3                   # then http://127.0.0.1:8080/docs
#   deploy/local-cluster.sh --redis-cluster 3   # on a local Redis Cluster (tests/redis-cluster.sh)
#
# Environment (all optional):
#   AUTHD_CLUSTER_PORT  nginx's port (default 8080)
#   AUTHD_BIN           the authd binary (default target/release/authd, built if missing)
#   AUTHD_CLUSTER_DIR   where logs, the nginx config and the generated master key go
#                       (default .local-cluster/)
#   DATABASE_URL, REDIS_URL, AUTHD_MASTER_KEY, AUTHD_* settings: passed to every replica.
#                       Without AUTHD_MASTER_KEY, one is generated once and kept in the dir.
#
# The replicas start together and each runs the migrations under Postgres's advisory lock, so
# one of them migrates and the others wait. Once all are ready it prints one line per replica,
#   replica <i> pid <pid> url <url>
# and then
#   cluster ready at http://127.0.0.1:<port>
# which is what tests and the load tool wait for.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --redis-cluster ]; then
  shift
  # Six redis-server processes on 7000-7005 (kept running afterwards; `tests/redis-cluster.sh
  # stop` ends them), and REDIS_URL naming them: redis+cluster://127.0.0.1:7000,...
  bash tests/redis-cluster.sh start >&2
  REDIS_URL=$(bash tests/redis-cluster.sh url)
  export REDIS_URL
fi
replicas=${1:-3}
port=${AUTHD_CLUSTER_PORT:-8080}
dir=${AUTHD_CLUSTER_DIR:-.local-cluster}
bin=${AUTHD_BIN:-target/release/authd}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/authd}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export AUTHD_PUBLIC_URL=${AUTHD_PUBLIC_URL:-http://127.0.0.1:$port}
# nginx on this machine is the only proxy whose X-Forwarded-For is believed.
export AUTHD_TRUSTED_PROXIES=${AUTHD_TRUSTED_PROXIES:-127.0.0.1/32}

command -v nginx >/dev/null || { echo "nginx is required (apt-get install nginx)" >&2; exit 1; }
if [ ! -x "$bin" ]; then
  echo "building $bin" >&2
  cargo build --release --bin authd >&2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -z "${AUTHD_MASTER_KEY:-}" ]; then
  [ -s "$dir/master.key" ] || (umask 077 && openssl rand -base64 32 > "$dir/master.key")
  AUTHD_MASTER_KEY=$(cat "$dir/master.key")
  export AUTHD_MASTER_KEY
fi

pids=()
nginx_pid=""
stop() {
  trap - EXIT INT TERM
  if [ -n "$nginx_pid" ]; then kill -QUIT "$nginx_pid" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM

for i in $(seq 1 "$replicas"); do
  AUTHD_LISTEN=127.0.0.1:0 "$bin" serve > "$dir/replica-$i.out" 2> "$dir/replica-$i.log" &
  pids+=($!)
done

urls=()
for i in $(seq 1 "$replicas"); do
  url=""
  for _ in $(seq 1 600); do
    url=$(sed -n 's/^authd listening on //p' "$dir/replica-$i.out" 2>/dev/null | head -n 1)
    [ -n "$url" ] && break
    kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { echo "replica $i exited:" >&2; cat "$dir/replica-$i.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$url" ] || { echo "replica $i did not start" >&2; exit 1; }
  urls+=("$url")
done

{
  echo "worker_processes 1;"
  echo "pid $dir/nginx.pid;"
  echo "error_log $dir/nginx.log warn;"
  echo "events { worker_connections 1024; }"
  echo "http {"
  echo "  access_log off;"
  for temp in client_body proxy fastcgi uwsgi scgi; do echo "  ${temp}_temp_path $dir/nginx-$temp;"; done
  echo "  upstream authd {"
  for url in "${urls[@]}"; do echo "    server ${url#http://} max_fails=1 fail_timeout=2s;"; done
  echo "    keepalive 32;"
  echo "    keepalive_timeout 5s;  # shorter than authd's idle timeout (AUTHD_HEADER_TIMEOUT)"
  echo "  }"
  echo "  server {"
  echo "    listen 127.0.0.1:$port;"
  echo "    location / {"
  echo "      proxy_pass http://authd;"
  echo "      proxy_http_version 1.1;"
  echo "      proxy_set_header Connection \"\";"
  echo "      proxy_set_header Host \$http_host;"
  echo "      proxy_set_header X-Forwarded-For \$remote_addr;"
  echo "      proxy_next_upstream error timeout http_502 http_503;"
  echo "      proxy_next_upstream_tries 2;"
  echo "      proxy_connect_timeout 1s;"
  echo "    }"
  echo "  }"
  echo "}"
} > "$dir/nginx.conf"
nginx -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;' &
nginx_pid=$!

ready() { curl -fsS -o /dev/null "$1/readyz" 2>/dev/null; }
for url in "${urls[@]}" "http://127.0.0.1:$port"; do
  for _ in $(seq 1 300); do ready "$url" && break; sleep 0.1; done
  ready "$url" || { echo "$url is not ready; see $dir/" >&2; exit 1; }
done
for i in $(seq 1 "$replicas"); do
  echo "replica $i pid ${pids[$((i - 1))]} url ${urls[$((i - 1))]}"
done
echo "cluster ready at http://127.0.0.1:$port"
wait
