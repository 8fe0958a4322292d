#!/usr/bin/env bash
# A local Postgres primary with a streaming hot standby, for failover tests: kill the primary,
# promote the standby, and check that authd (tokio-postgres with a multi-host URL and
# target_session_attrs=read-write) reconnects to the new primary.
#
#   tests/postgres-standby.sh start         # idempotent: a healthy primary + streaming standby is kept
#   tests/postgres-standby.sh kill-primary  # `pg_ctl stop -m immediate`: a crash, no shutdown checkpoint
#   tests/postgres-standby.sh promote       # the standby becomes a primary that accepts writes
#   tests/postgres-standby.sh stop          # stops both and deletes the data
#   tests/postgres-standby.sh status
#   tests/postgres-standby.sh url           # prints the DATABASE_URL that reaches whichever is primary
#
# Settings: POSTGRES_PRIMARY_PORT (default 5441), POSTGRES_STANDBY_PORT (default 5442),
# POSTGRES_STANDBY_DIR (data, sockets and logs, default /tmp/authd-pg-standby),
# PG_BIN (server binaries, default Debian's newest /usr/lib/postgresql/*/bin).
#
# Both nodes trust every local and 127.0.0.1 connection as superuser `postgres`, so the URL has no
# password. They listen on 127.0.0.1 only; the system Postgres on 5432 is not touched.
set -euo pipefail

primary_port=${POSTGRES_PRIMARY_PORT:-5441}
standby_port=${POSTGRES_STANDBY_PORT:-5442}
dir=${POSTGRES_STANDBY_DIR:-/tmp/authd-pg-standby}
if [ -z "${PG_BIN:-}" ]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$PG_BIN" ] || PG_BIN=$(dirname "$(command -v initdb)")
fi

# The server binaries refuse to run as root: run them as `postgres` when we are root, and as
# ourselves otherwise (a CI user owns its own data dirs).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_of() { # port_of primary|standby
  if [ "$1" = primary ]; then echo "$primary_port"; else echo "$standby_port"; fi
}

# psql over TCP with everything spelled out, so PGHOST, PGUSER, ~/.psqlrc and the like do not
# change what we ask.
sql() { # sql <port> <query>
  "$PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
    "host=127.0.0.1 port=$1 user=postgres dbname=postgres connect_timeout=2" -c "$2"
}

# A node runs when its postmaster.pid names a live `postgres` process: a pid file left by a crash
# or a reboot may name a pid since reused by something else, which must not count (nor be killed).
pid_of() { # pid_of primary|standby; prints the postmaster's pid, fails when it is not running
  local pidfile=$dir/$1/postmaster.pid pid
  [ -f "$pidfile" ] || return 1
  pid=$(head -n 1 "$pidfile")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] || return 1
  echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

in_recovery() { # in_recovery <port>: prints t or f, fails when the node does not answer
  sql "$1" 'select pg_is_in_recovery()' 2>/dev/null
}

healthy() { # primary writable, standby read-only and streaming from it
  running primary && running standby || return 1
  [ "$(in_recovery "$primary_port")" = f ] || return 1
  [ "$(in_recovery "$standby_port")" = t ] || return 1
  [ "$(sql "$standby_port" 'select status from pg_stat_wal_receiver' 2>/dev/null)" = streaming ] || return 1
  [ "$(sql "$primary_port" "select count(*) from pg_stat_replication where state = 'streaming'" 2>/dev/null)" -ge 1 ]
}

url() {
  # libpq's multi-host form, which tokio-postgres 0.7 parses the same way (one port per host);
  # read-write makes both skip the standby while the primary is up, and take it once promoted.
  echo "postgres://postgres@127.0.0.1:$primary_port,127.0.0.1:$standby_port/postgres?target_session_attrs=read-write"
}

# Refuse to start when something else already listens on one of our ports (for instance a
# postmaster whose data dir was deleted under it): we would otherwise wait for a node that can
# never bind, and the tests would talk to a stranger.
check_port_free() { # check_port_free <port>
  if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -t 1; then
    echo "something not started by $0 already answers on 127.0.0.1:$1; stop it first" >&2
    return 1
  fi
}

start() {
  if healthy; then
    echo "Postgres primary and standby already up: $(url)"
    return
  fi
  # Anything short of healthy (a half-started pair, a killed primary, a promoted standby, stale
  # pid files) starts over from an empty dir: failover tests want a known starting point.
  stop >/dev/null 2>&1 || true
  check_port_free "$primary_port"
  check_port_free "$standby_port"
  mkdir -p "$dir"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir"

  # --no-sync here, --no-sync for pg_basebackup and fsync=off below: the data is thrown away,
  # and a test's "crash" is a killed process, not a lost page cache, so fsync only costs time on
  # a busy machine (initdb alone spends seconds in it).
  as_pg "$PG_BIN/initdb" -D "$dir/primary" -U postgres --auth=trust --no-sync \
    --encoding=UTF8 --locale=C >"$dir/initdb.log"
  cat >>"$dir/primary/postgresql.conf" <<EOF

# tests/postgres-standby.sh
listen_addresses = '127.0.0.1'
port = $primary_port
unix_socket_directories = '$dir'
cluster_name = 'authd-pg-primary'
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
hot_standby = on
fsync = off
shared_buffers = 32MB
EOF
  # Written whole rather than edited: initdb's also trusts ::1 and lists replication lines we
  # want explicit.
  cat >"$dir/primary/pg_hba.conf" <<EOF
# tests/postgres-standby.sh: trust on loopback only, including replication connections
local   all          all                 trust
local   replication  all                 trust
host    all          all   127.0.0.1/32  trust
host    replication  all   127.0.0.1/32  trust
EOF
  as_pg "$PG_BIN/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w -t 60 start >/dev/null

  # -R writes standby.signal and primary_conninfo; -C -S creates a physical slot so the primary
  # keeps the WAL the standby has not received yet, however slowly it starts.
  as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres \
    -D "$dir/standby" -R -X stream -C -S authd_standby --no-sync --checkpoint=fast
  # The copied postgresql.conf still says the primary's port and name; the last setting wins.
  cat >>"$dir/standby/postgresql.conf" <<EOF
port = $standby_port
cluster_name = 'authd-pg-standby'
EOF
  as_pg "$PG_BIN/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -w -t 60 start >/dev/null

  for _ in $(seq 1 300); do
    if healthy; then
      # Synchronous replication, set only now that the standby streams (a commit before that
      # would wait for it) and only on the primary (a promoted standby has no standby to wait
      # for): a commit the primary acknowledges is on the standby too, so a failover loses no
      # acknowledged write. Asynchronous replication would lose the last ones.
      as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$primary_port" -U postgres -qAt \
        -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null
      echo "Postgres primary and standby up: $(url)"
      return
    fi
    sleep 0.1
  done
  echo "the standby did not start streaming; see $dir/primary.log and $dir/standby.log" >&2
  return 1
}

stop_node() { # stop_node primary|standby [mode]
  local pid
  pid=$(pid_of "$1") || return 0
  if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/$1" -m "${2:-fast}" -w -t 30 stop >/dev/null 2>&1; then
    # A postmaster that does not shut down in time: it is ours (pid_of checked), so kill it.
    kill -9 "$pid" 2>/dev/null || true
  fi
}

stop() {
  # Immediate: the data is deleted next, so a shutdown checkpoint would only cost time.
  stop_node standby immediate
  stop_node primary immediate
  rm -rf "$dir"
  echo "Postgres primary and standby stopped"
}

kill_primary() {
  if ! running primary; then
    echo "the primary (port $primary_port) is not running"
    return
  fi
  # Immediate mode is SIGQUIT: every backend exits at once with no shutdown checkpoint, as in a
  # crash; the standby's walreceiver sees its connection drop.
  as_pg "$PG_BIN/pg_ctl" -D "$dir/primary" -m immediate -w stop >/dev/null
  echo "primary (port $primary_port) killed"
}

promote() {
  if ! running standby; then
    echo "the standby (port $standby_port) is not running; run $0 start" >&2
    return 1
  fi
  if [ "$(in_recovery "$standby_port")" = f ]; then
    echo "port $standby_port is already a primary"
    return
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$dir/standby" -w -t 60 promote >/dev/null
  # pg_ctl -w returns once the server reports it left recovery; check that it takes writes too.
  for _ in $(seq 1 300); do
    if [ "$(in_recovery "$standby_port")" = f ] &&
      sql "$standby_port" 'create temporary table promote_check (x int)' 2>/dev/null; then
      echo "port $standby_port promoted: accepts writes"
      return
    fi
    sleep 0.1
  done
  echo "port $standby_port did not leave recovery; see $dir/standby.log" >&2
  return 1
}

status() {
  local node port role
  for node in primary standby; do
    port=$(port_of "$node")
    printf '%s  %-8s ' "$port" "$node"
    if ! running "$node"; then
      echo down
      continue
    fi
    case $(in_recovery "$port" || true) in
      f) role="up, primary (read-write)"
         role+=", $(sql "$port" "select count(*) from pg_stat_replication where state = 'streaming'") streaming replica(s)" ;;
      t) role="up, standby (read-only)"
         role+=", wal receiver: $(sql "$port" 'select coalesce(max(status), $$none$$) from pg_stat_wal_receiver')" ;;
      *) role="running, not answering" ;;
    esac
    echo "$role"
  done
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) url ;;
  kill-primary) kill_primary ;;
  promote) promote ;;
  *) echo "usage: $0 start|stop|status|url|kill-primary|promote" >&2; exit 2 ;;
esac
