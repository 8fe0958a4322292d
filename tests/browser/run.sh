#!/usr/bin/env bash
# The web UI, Swagger UI, "Log in with authd" and OpenID Connect in a real browser: starts
# `authd serve` on a database and Redis prefix of its own, registers the two relying parties as
# clients, then runs tests/browser/ui.test.mjs, swagger.test.mjs, code_flow.test.mjs (a
# single-page app on oauth4webapi, in relying_party/) and oidc.test.mjs (a server-side OpenID
# relying party on openid-client, in oidc_rp/), helpers in browser.mjs; then passkeys.test.mjs
# against a second authd named localhost (WebAuthn needs a domain), with a device grant
# (RFC 8628) approved there with a passkey login, and federation.test.mjs ("Log in with Corp",
# the first authd as the second's upstream provider). All in Debian's headless
# Chromium with playwright-core (which cannot download a browser here: it is pointed at
# /usr/bin/chromium). The first authd mails a real SMTP server (aiosmtpd) whose mail the forgotten
# password and address change tests read.
# Installs Chromium (apt) and the npm packages (pinned by package-lock.json) when they are missing.
#
#   bash tests/browser/run.sh                     # after `cargo build`
#   SCREENSHOTS=docs/screenshots bash tests/browser/run.sh   # also photograph each page
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
if [ -n "${SCREENSHOTS:-}" ]; then
  mkdir -p "$SCREENSHOTS"
  SCREENSHOTS=$(cd "$SCREENSHOTS" && pwd)
  export SCREENSHOTS
fi

source tests/serve_authd.sh
# A real SMTP server (tests/smtp_server.py, aiosmtpd) takes what the first authd mails; the mail
# tests read the links from MAIL_LOG, one JSON line per mail. Its stdin is a FIFO this script
# holds open: when the script ends, the server sees EOF and stops.
MAIL_DIR=$(mktemp -d)
MAIL_LOG="$MAIL_DIR/mail.jsonl"
mkfifo "$MAIL_DIR/stdin"
python3 tests/smtp_server.py serve --port "${SMTP_PORT:-18095}" --mode plain \
  <"$MAIL_DIR/stdin" >"$MAIL_LOG" &
exec 8>"$MAIL_DIR/stdin"
for _ in $(seq 1 100); do grep -q '^ready' "$MAIL_LOG" 2>/dev/null && break; sleep 0.1; done
export MAIL_LOG AUTHD_SMTP_URL="smtp://127.0.0.1:${SMTP_PORT:-18095}"
# The relying party of code_flow.test.mjs: on localhost (another site than authd's 127.0.0.1),
# allowed to call authd's API from its scripts.
RP_PORT=${RP_PORT:-18099}
export AUTHD_CORS_ORIGINS="http://localhost:$RP_PORT"
serve_authd browser "${PORT:-18098}"
RP_CLIENT_ID=$(DATABASE_URL="postgres://postgres@127.0.0.1:5432/$SERVED_DB" \
  "${AUTHD:-target/debug/authd}" clients create --name Notes --public \
  --redirect-uri "http://localhost:$RP_PORT/callback" --scope notes:read 2>/dev/null |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')
export RP_PORT RP_CLIENT_ID
# The relying party of oidc.test.mjs: confidential (client_secret_basic), on localhost too, with
# a page authd's RP-initiated logout may send the browser back to. It registers only `openid`:
# profile, email and phone are open to every code-flow client.
OIDC_RP_PORT=${OIDC_RP_PORT:-18097}
OIDC_RP_CLIENT=$(DATABASE_URL="postgres://postgres@127.0.0.1:5432/$SERVED_DB" \
  "${AUTHD:-target/debug/authd}" clients create --name Journal \
  --redirect-uri "http://localhost:$OIDC_RP_PORT/callback" \
  --post-logout-redirect-uri "http://localhost:$OIDC_RP_PORT/logged-out" --scope openid 2>/dev/null)
OIDC_RP_CLIENT_ID=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["client_id"])' "$OIDC_RP_CLIENT")
OIDC_RP_CLIENT_SECRET=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["client_secret"])' "$OIDC_RP_CLIENT")
export OIDC_RP_PORT OIDC_RP_CLIENT_ID OIDC_RP_CLIENT_SECRET

status=0
# A per-test deadline, so a browser that hangs fails the run instead of stalling it.
(cd tests/browser && AUTHD_URL="$BASE" node --test --test-concurrency=1 --test-timeout=180000 \
  ui.test.mjs swagger.test.mjs code_flow.test.mjs oidc.test.mjs) || status=$?
if [ "$status" -ne 0 ]; then show_authd_log; fi

# Passkeys need a domain name for their relying party: a second authd, on its own database
# and prefix, whose URL is http://localhost (a secure context, as WebAuthn requires). It also
# brokers the first authd as its upstream identity provider `corp` (federation.test.mjs).
UPSTREAM_URL=$BASE
UPSTREAM_DB=$SERVED_DB
export UPSTREAM_URL
(
  unset AUTHD_CORS_ORIGINS AUTHD_SMTP_URL
  serve_authd passkeys "${PASSKEY_PORT:-18096}" localhost
  UPSTREAM_CLIENT=$(DATABASE_URL="postgres://postgres@127.0.0.1:5432/$UPSTREAM_DB" \
    "${AUTHD:-target/debug/authd}" clients create --name "authd on localhost" \
    --redirect-uri "$BASE/ui/login/upstream/corp/callback" --scope "openid profile email" 2>/dev/null)
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$SERVED_DB" REDIS_URL="redis://127.0.0.1:6379" \
    AUTHD_REDIS_PREFIX="$SERVED_PREFIX" AUTHD_MASTER_KEY="$SERVED_MASTER_KEY" AUTHD_PUBLIC_URL="$BASE" \
    AUTHD_UPSTREAM_CLIENT_SECRET=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["client_secret"])' "$UPSTREAM_CLIENT") \
    "${AUTHD:-target/debug/authd}" upstreams create --id corp --name Corp --issuer "$UPSTREAM_URL" \
    --client-id "$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["client_id"])' "$UPSTREAM_CLIENT")" \
    >/dev/null
  # The TV of the device grant's test (RFC 8628).
  DEVICE_CLIENT_ID=$(DATABASE_URL="postgres://postgres@127.0.0.1:5432/$SERVED_DB" \
    "${AUTHD:-target/debug/authd}" clients create --name "Living Room TV" --public \
    --grant-type urn:ietf:params:oauth:grant-type:device_code 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')
  export DEVICE_CLIENT_ID
  cd tests/browser
  AUTHD_URL="$BASE" node --test --test-concurrency=1 --test-timeout=180000 \
    passkeys.test.mjs federation.test.mjs ||
    { cd ../..; show_authd_log; exit 1; }
) || status=$?
exit "$status"
