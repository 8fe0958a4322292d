# Sourced by the scripts that test a running authd (schemathesis.sh, browser/run.sh):
# `serve_authd <name> <port> [host]` starts `authd serve` ($AUTHD, default target/debug/authd) on a
# database and Redis prefix of its own, waits until it is ready, and removes them all on exit.
# Settings beyond these come from the caller's environment (export AUTHD_...=...).
# Sets BASE (its URL), SERVED_DB, SERVED_PREFIX, SERVED_MASTER_KEY (for commands acting on its
# data) and AUTHD_LOG; `show_authd_log` prints its last lines.

serve_authd() {
  # `host` names authd in its URL (it listens on 127.0.0.1 either way): localhost where the
  # test needs a domain name (WebAuthn's relying party).
  local name=$1 port=$2 host=${3:-127.0.0.1}
  BASE="http://$host:$port"
  SERVED_DB="authd_${name}_$$"
  SERVED_PREFIX="authd-${name}:$$:"
  SERVED_WORK=$(mktemp -d)
  AUTHD_LOG="$SERVED_WORK/authd.log"
  SERVED_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
  trap stop_authd EXIT
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $SERVED_DB" >/dev/null
  # Cheap Argon2: these tests check behaviour, not hashing cost.
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$SERVED_DB" \
  REDIS_URL="redis://127.0.0.1:6379" AUTHD_REDIS_PREFIX="$SERVED_PREFIX" \
  AUTHD_MASTER_KEY="$SERVED_MASTER_KEY" \
  AUTHD_ISSUER="$BASE" AUTHD_ARGON2_MEMORY_KIB=1024 AUTHD_ARGON2_ITERATIONS=1 RUST_LOG=warn \
    "${AUTHD:-target/debug/authd}" serve --listen "127.0.0.1:$port" >"$AUTHD_LOG" 2>&1 &
  SERVED_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "$BASE/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  cat "$AUTHD_LOG"
  return 1
}

stop_authd() {
  if [ -n "${SERVED_PID:-}" ]; then kill "$SERVED_PID" 2>/dev/null || true; wait "$SERVED_PID" 2>/dev/null || true; fi
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $SERVED_DB" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "${SERVED_PREFIX}*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null || true
  rm -rf "$SERVED_WORK"
}

show_authd_log() {
  echo "--- authd's log (warnings and errors) ---"
  tail -n 50 "$AUTHD_LOG"
}
