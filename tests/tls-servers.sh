#!/usr/bin/env bash
# A Redis and a Postgres that speak TLS only, for the rediss:// and sslmode tests: a fresh test CA
# signs a server certificate for localhost and 127.0.0.1, and a second, unrelated "wrong" CA is
# written beside it so a test can check that a client trusting only that one is refused.
#
#   tests/tls-servers.sh start [DIR]   # idempotent: servers already up and verifiable are kept
#   tests/tls-servers.sh stop [DIR]    # stops both and deletes DIR
#   tests/tls-servers.sh status [DIR]
#   tests/tls-servers.sh ca [DIR]      # prints the test CA's certificate file
#   tests/tls-servers.sh env [DIR]     # prints NAME=value lines: eval "$(tests/tls-servers.sh env)"
#
# DIR (certificates, keys, data, logs and pid files) is the argument, else TLS_DIR, else
# /tmp/authd-tls. Settings: TLS_REDIS_PORT (default 6390), TLS_POSTGRES_PORT (default 5443),
# PG_BIN (server binaries, default Debian's newest /usr/lib/postgresql/*/bin).
#
# Redis has no plaintext port at all (--port 0). Postgres listens on 127.0.0.1 only and its
# pg_hba rejects non-TLS connections, so sslmode=disable is refused rather than silently served.
# Neither asks for a client certificate, and Postgres trusts superuser `postgres` over TLS.
set -euo pipefail

dir=${2:-${TLS_DIR:-/tmp/authd-tls}}
redis_port=${TLS_REDIS_PORT:-6390}
pg_port=${TLS_POSTGRES_PORT:-5443}
if [ -z "${PG_BIN:-}" ]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$PG_BIN" ] || PG_BIN=$(dirname "$(command -v initdb)")
fi
# DIR comes from the command line and `stop` deletes it: only a dir this script made (it holds
# this marker) is ever removed, so `tls-servers.sh stop .` cannot wipe a checkout.
marker=$dir/.authd-tls-servers

ca=$dir/ca.crt
wrong_ca=$dir/wrong-ca.crt

# The Postgres server binaries refuse to run as root: run them as `postgres` when we are root,
# and as ourselves otherwise.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

redis_ping() { # redis_ping <ca file>: PONG when the server's certificate verifies against it
  redis-cli --tls --cacert "$1" -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null
}

pg_select() { # pg_select <ca file>: 1 when a verify-full connection to localhost succeeds
  # The whole connection string is given, so PGSSLMODE, PGHOST and ~/.psqlrc change nothing.
  "$PG_BIN/psql" -X -A -t -q \
    "postgres://postgres@localhost:$pg_port/postgres?sslmode=verify-full&sslrootcert=$1&connect_timeout=2" \
    -c 'select 1' 2>/dev/null
}

# A server runs when its pid file names a live process of the right program: a pid file left by
# a crash or a reboot may name a pid since reused by something else, which must not count (nor
# be killed).
redis_pid() {
  local pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ] || return 1
  echo "$pid"
}

pg_pid() {
  local pid
  pid=$(head -n 1 "$dir/pg/postmaster.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] || return 1
  echo "$pid"
}

healthy() {
  [ -f "$ca" ] && [ -f "$wrong_ca" ] || return 1
  redis_pid >/dev/null && pg_pid >/dev/null || return 1
  [ "$(redis_ping "$ca")" = PONG ] && [ "$(pg_select "$ca")" = 1 ]
}

make_certs() {
  # One config for every certificate, rather than the system openssl.cnf and -addext (which
  # collides with the extensions that config already adds to a self-signed CA). rustls (webpki)
  # is the strict client here: the CA needs basicConstraints CA:TRUE and keyCertSign, and the
  # server certificate must not be a CA, must name its hosts in subjectAltName (the CN is not
  # looked at) and should say serverAuth. It says clientAuth too: the nodes of a TLS Redis
  # Cluster (tests/redis-cluster.sh with REDIS_CLUSTER_TLS_DIR) present it to one another.
  cat >"$dir/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
  local name cn
  # ECDSA P-256: quick to generate, and accepted by rustls, OpenSSL (redis-cli, psql), Redis
  # and Postgres alike. The wrong CA has its own key and its own name: it signed nothing here.
  for name in ca wrong-ca; do
    if [ "$name" = ca ]; then cn="authd test CA"; else cn="authd wrong test CA"; fi
    openssl req -config "$dir/openssl.cnf" -x509 -new -nodes -sha256 -days 3650 \
      -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -subj "/CN=$cn/O=authd tests" -extensions ca_ext \
      -keyout "$dir/$name.key" -out "$dir/$name.crt" 2>/dev/null
  done
  openssl req -config "$dir/openssl.cnf" -new -nodes -sha256 \
    -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=localhost/O=authd tests" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  openssl x509 -req -sha256 -days 825 -in "$dir/server.csr" \
    -CA "$ca" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -extfile "$dir/openssl.cnf" -extensions server_ext -out "$dir/server.crt" 2>/dev/null
  chmod 600 "$dir"/*.key
  # The certificates are public: a test running as another user reads the CA files.
  chmod 644 "$dir"/*.crt
  # Postgres refuses a key that is not owned by its own user with mode 0600 (or by root with
  # 0640 and its group). Redis, run as root here, reads it all the same.
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir/server.key"
}

start_redis() {
  # No persistence: the tests want an empty server, and a restart starts over.
  redis-server --port 0 --tls-port "$redis_port" --bind 127.0.0.1 --daemonize yes \
    --tls-cert-file "$dir/server.crt" --tls-key-file "$dir/server.key" \
    --tls-ca-cert-file "$ca" --tls-auth-clients no \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --save "" --appendonly no
  for _ in $(seq 1 100); do
    [ "$(redis_ping "$ca")" = PONG ] && return
    sleep 0.1
  done
  echo "Redis did not answer over TLS; see $dir/redis.log" >&2
  return 1
}

start_postgres() {
  # --no-sync and fsync=off: the data is thrown away, and fsync only costs time on a busy machine.
  as_pg "$PG_BIN/initdb" -D "$dir/pg" -U postgres --auth=trust --no-sync \
    --encoding=UTF8 --locale=C >"$dir/initdb.log"
  # No Unix socket: every connection is TCP, where pg_hba below decides on TLS, and a long DIR
  # would overflow a socket path.
  cat >>"$dir/pg/postgresql.conf" <<EOF

# tests/tls-servers.sh
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = ''
cluster_name = 'authd-tls'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
fsync = off
shared_buffers = 32MB
EOF
  # First match wins: TLS connections are trusted, plaintext ones rejected outright (a plain
  # client gets "no pg_hba.conf entry ... no encryption" rather than a password prompt).
  cat >"$dir/pg/pg_hba.conf" <<EOF
# tests/tls-servers.sh: TLS only, on loopback
hostssl    all  all  127.0.0.1/32  trust
hostnossl  all  all  127.0.0.1/32  reject
EOF
  as_pg "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 start >/dev/null
  for _ in $(seq 1 100); do
    [ "$(pg_select "$ca")" = 1 ] && return
    sleep 0.1
  done
  echo "Postgres did not accept a verify-full connection; see $dir/pg.log" >&2
  return 1
}

# Refuse to start when something else already listens on one of our ports (for instance a
# server whose dir was deleted under it): the tests would talk to a stranger.
check_port_free() { # check_port_free <port>
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "something not started by $0 already listens on 127.0.0.1:$1; stop it first" >&2
    return 1
  fi
}

start() {
  if healthy; then
    echo "TLS Redis and Postgres already up in $dir"
    return
  fi
  # Anything short of healthy (one server down, stale pid files, a half-made dir) starts over
  # with fresh certificates.
  stop >/dev/null
  check_port_free "$redis_port"
  check_port_free "$pg_port"
  mkdir -p "$dir"
  touch "$marker"
  # The postgres user writes its data dir and log here.
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
  chmod 755 "$dir"
  make_certs
  start_redis
  start_postgres
  echo "TLS Redis and Postgres up in $dir"
}

stop() {
  local pid
  if pid=$(redis_pid); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
  fi
  if pid=$(pg_pid); then
    # Immediate: the data is deleted next, so a shutdown checkpoint would only cost time.
    as_pg "$PG_BIN/pg_ctl" -D "$dir/pg" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
      kill -9 "$pid" 2>/dev/null || true
  fi
  if [ -e "$dir" ]; then
    if [ ! -e "$marker" ] && [ -n "$(ls -A "$dir")" ]; then
      echo "$dir was not made by $0 (no $(basename "$marker")); not deleting it" >&2
      return 1
    fi
    rm -rf "$dir"
  fi
  echo "TLS Redis and Postgres stopped"
}

status() {
  printf 'redis     127.0.0.1:%s  ' "$redis_port"
  if ! redis_pid >/dev/null; then
    echo down
  elif [ "$(redis_ping "$ca")" = PONG ]; then
    echo "up, TLS verified against $ca"
  else
    echo "running, not answering over TLS"
  fi
  printf 'postgres  127.0.0.1:%s  ' "$pg_port"
  if ! pg_pid >/dev/null; then
    echo down
  elif [ "$(pg_select "$ca")" = 1 ]; then
    echo "up, verify-full against $ca"
  else
    echo "running, not answering over TLS"
  fi
}

env_lines() {
  [ -f "$ca" ] || echo "warning: $ca does not exist yet; run $0 start" >&2
  printf 'TLS_CA_FILE=%q\n' "$ca"
  printf 'TLS_WRONG_CA_FILE=%q\n' "$wrong_ca"
  printf 'TLS_REDIS_URL=%q\n' "rediss://127.0.0.1:$redis_port"
  printf 'TLS_REDIS_URL_LOCALHOST=%q\n' "rediss://localhost:$redis_port"
  printf 'TLS_DATABASE_URL=%q\n' "postgres://postgres@localhost:$pg_port/postgres"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  ca) echo "$ca" ;;
  env) env_lines ;;
  *) echo "usage: $0 start|stop|status|ca|env [DIR]" >&2; exit 2 ;;
esac
