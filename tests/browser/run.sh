#!/usr/bin/env bash
# The web UI, Swagger UI and "Log in with authd" in a real browser: starts `authd serve` on a
# database and Redis prefix of its own, then runs tests/browser/ui.test.mjs, swagger.test.mjs
# and code_flow.test.mjs (helpers in browser.mjs, the relying party in relying_party/)
# in Debian's headless Chromium with playwright-core (which cannot download a browser here: it is
# pointed at /usr/bin/chromium). Installs Chromium (apt) and the npm packages (pinned by
# package-lock.json) when they are missing.
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

status=0
(cd tests/browser && AUTHD_URL="$BASE" node --test --test-concurrency=1 \
  ui.test.mjs swagger.test.mjs code_flow.test.mjs) || status=$?
if [ "$status" -ne 0 ]; then show_authd_log; fi
exit "$status"
