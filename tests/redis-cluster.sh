#!/usr/bin/env bash
# A local Redis Cluster for tests, CI and `deploy/local-cluster.sh --redis-cluster`: three masters
# and three replicas from Debian's redis-server, on loopback ports, with a short node timeout so
# a killed master's replica takes over within a few seconds.
#
#   tests/redis-cluster.sh start    # idempotent: a cluster already up and healthy is kept
#   tests/redis-cluster.sh stop
#   tests/redis-cluster.sh status
#   tests/redis-cluster.sh url      # prints the REDIS_URL that reaches it
#
# Settings: REDIS_CLUSTER_PORT (first port, default 7000; the nodes use it and the next five),
# REDIS_CLUSTER_DIR (data, logs and pid files, default /tmp/authd-redis-cluster),
# REDIS_CLUSTER_NODE_TIMEOUT (ms, default 2000), REDIS_CLUSTER_TLS_DIR (TLS only, clients, the
# cluster bus and replication alike, with that directory's ca.crt, server.crt and server.key,
# as tests/tls-servers.sh makes them; `url` then says rediss+cluster://).
set -euo pipefail

base=${REDIS_CLUSTER_PORT:-7000}
dir=${REDIS_CLUSTER_DIR:-/tmp/authd-redis-cluster}
node_timeout=${REDIS_CLUSTER_NODE_TIMEOUT:-2000}
ports=$(seq "$base" $((base + 5)))

tls_dir=${REDIS_CLUSTER_TLS_DIR:-}
tls_cli=()
tls_server=()
scheme=redis+cluster
if [ -n "$tls_dir" ]; then
  tls_cli=(--tls --cacert "$tls_dir/ca.crt")
  tls_server=(--tls-cert-file "$tls_dir/server.crt" --tls-key-file "$tls_dir/server.key"
    --tls-ca-cert-file "$tls_dir/ca.crt" --tls-auth-clients no --tls-cluster yes
    --tls-replication yes)
  scheme=rediss+cluster
fi

cli() { # cli <port> <command...>
  local port=$1; shift
  redis-cli "${tls_cli[@]}" -h 127.0.0.1 -p "$port" "$@"
}

healthy() { # every node sees the cluster as ok, with three masters each followed by a replica
  local port
  for port in $ports; do
    cli "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    [ "$(cli "$port" cluster nodes 2>/dev/null | awk '$3 ~ /slave/' | wc -l)" -eq 3 ] || return 1
    # A replica that has not finished its first sync is not allowed to take over ("disconnected
    # from master for longer than allowed"): a master killed before then never fails over.
    if cli "$port" role 2>/dev/null | head -n 1 | grep -q slave; then
      cli "$port" info replication 2>/dev/null | grep -q '^master_link_status:up' || return 1
    fi
  done
}

url() {
  local nodes=() port
  for port in $ports; do nodes+=("127.0.0.1:$port"); done
  local IFS=,
  echo "$scheme://${nodes[*]}"
}

start() {
  if healthy; then
    echo "Redis Cluster already up: $(url)"
    return
  fi
  stop >/dev/null 2>&1 || true
  mkdir -p "$dir"
  local port
  for port in $ports; do
    mkdir -p "$dir/$port"
    # No persistence: the tests want a clean cluster, and a restart starts over. DEBUG is
    # allowed from loopback so a test can crash a node (`DEBUG SEGFAULT`) as well as kill it.
    if [ -n "$tls_dir" ]; then listen=(--port 0 --tls-port "$port" "${tls_server[@]}"); else listen=(--port "$port"); fi
    redis-server "${listen[@]}" --bind 127.0.0.1 --daemonize yes \
      --dir "$dir/$port" --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" \
      --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout "$node_timeout" --save "" --appendonly no \
      --enable-debug-command local
  done
  for port in $ports; do
    for _ in $(seq 1 50); do
      [ "$(cli "$port" ping 2>/dev/null)" = PONG ] && break
      sleep 0.1
    done
  done
  local nodes=()
  for port in $ports; do nodes+=("127.0.0.1:$port"); done
  redis-cli "${tls_cli[@]}" --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
    >"$dir/create.log"
  # Replicas are assigned by gossip after the slots: up to a few seconds on a busy machine.
  for _ in $(seq 1 300); do
    if healthy; then
      echo "Redis Cluster up: $(url)"
      return
    fi
    sleep 0.1
  done
  echo "the Redis Cluster did not become healthy; see $dir/create.log and $dir/*/redis.log" >&2
  return 1
}

stop() {
  local port pid
  for port in $ports; do
    if [ -f "$dir/$port/redis.pid" ]; then
      pid=$(cat "$dir/$port/redis.pid")
      kill "$pid" 2>/dev/null || true
    fi
  done
  sleep 0.3
  rm -rf "$dir"
  echo "Redis Cluster stopped"
}

status() {
  local port
  for port in $ports; do
    printf '%s  ' "$port"
    cli "$port" cluster info 2>/dev/null | grep '^cluster_state' || echo down
  done
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) url ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
