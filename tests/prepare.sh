# Makes this machine able to run authd's tests; sourced by tests/suite.sh and .ci/run.
#
# Installs or starts, only where missing:
# - Postgres on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (Debian's packages; started if
#   installed but down). The tests connect as the `postgres` superuser over TCP with trust
#   authentication, as Debian's cluster is set up on these machines (AUTHD_TEST_DATABASE_URL
#   and AUTHD_TEST_REDIS_URL point them elsewhere);
# - what the tests run beside authd: nginx (the cluster tests), openssl (the TLS servers'
#   certificates), Postgres's server binaries (the TLS and standby tests start their own),
#   OpenLDAP's slapd and ldap-utils (the LDAP tests start their own directory);
# - cargo-nextest, the test runner;
# - the Python packages of tests/requirements.txt, in a virtual environment under
#   target/test-venv that is put first on PATH (so `python3` is that environment's);
# - Node.js and the npm packages of tests/oidc_provider (panva's oidc-provider, an upstream
#   identity provider for the federation tests), pinned by its package-lock.json.
#
# Debian packages need root, or sudo. Every step says what it does; nothing is installed that
# is already there.

prepare_step() { printf '\n==> %s\n' "$*"; }

prepare_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "tests/prepare.sh: '$*' needs root (or sudo), which this shell does not have" >&2
    return 1
  fi
}

prepare_apt() {
  if [ -z "${PREPARE_APT_UPDATED:-}" ]; then
    prepare_as_root apt-get update -qq
    PREPARE_APT_UPDATED=1
  fi
  prepare_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

prepare_wait_for() { # prepare_wait_for <what> <command...>
  local what=$1
  shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "tests/prepare.sh: $what did not come up" >&2
  return 1
}

prepare_postgres() {
  local version
  if ! command -v pg_ctlcluster >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    prepare_step "installing Postgres"
    prepare_apt postgresql
    # A cluster made just now, for tests: trust connections from this machine, as the tests
    # make them (user postgres, no password). A cluster that was here before keeps its rules.
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    prepare_as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' \
      "/etc/postgresql/$version/main/pg_hba.conf"
    prepare_as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart || true
  fi
  if pg_isready -q -h 127.0.0.1 -p 5432; then return; fi
  prepare_step "starting Postgres"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  prepare_as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  prepare_wait_for "Postgres" pg_isready -q -h 127.0.0.1 -p 5432
}

prepare_redis() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    prepare_step "installing Redis"
    prepare_apt redis-server
  fi
  if [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; then return; fi
  prepare_step "starting Redis"
  prepare_as_root mkdir -p /var/lib/redis /var/log/redis
  prepare_as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/tests.log
  prepare_wait_for "Redis" sh -c '[ "$(redis-cli -h 127.0.0.1 -p 6379 ping)" = PONG ]'
}

prepare_tools() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v flock >/dev/null || missing+=(util-linux)
  command -v python3 >/dev/null || missing+=(python3)
  # OpenLDAP's server and clients, for the LDAP login tests (each starts its own slapd).
  [ -x /usr/sbin/slapd ] || missing+=(slapd)
  command -v ldapmodify >/dev/null || missing+=(ldap-utils)
  if [ ${#missing[@]} -gt 0 ]; then
    prepare_step "installing ${missing[*]}"
    prepare_apt "${missing[@]}"
  fi
  if ! cargo nextest --version >/dev/null 2>&1; then
    prepare_step "installing cargo-nextest (cargo install, a few minutes)"
    cargo install --locked cargo-nextest
  fi
}

prepare_python() {
  local venv=target/test-venv
  if [ ! -x "$venv/bin/python3" ]; then
    prepare_step "a Python environment for the tests ($venv)"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      # Debian's python3 ships venv apart.
      rm -rf "$venv"
      prepare_apt python3-venv
      python3 -m venv "$venv"
    fi
  fi
  # Installed again only when the requirements change.
  if ! cmp -s tests/requirements.txt "$venv/requirements.txt"; then
    prepare_step "pip install -r tests/requirements.txt"
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
    cp tests/requirements.txt "$venv/requirements.txt"
  fi
  PATH="$PWD/$venv/bin:$PATH"
  export PATH
}

prepare_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    prepare_step "installing Node.js and npm"
    prepare_apt nodejs npm
  fi
  # Installed again only when the lock file changes.
  if ! cmp -s tests/oidc_provider/package-lock.json tests/oidc_provider/node_modules/.installed-lock; then
    prepare_step "npm ci in tests/oidc_provider (oidc-provider)"
    (cd tests/oidc_provider && npm ci --no-audit --no-fund --loglevel=error)
    cp tests/oidc_provider/package-lock.json tests/oidc_provider/node_modules/.installed-lock
  fi
}

prepare_postgres
prepare_redis
prepare_tools
prepare_python
prepare_node
