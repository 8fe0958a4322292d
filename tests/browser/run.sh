#!/usr/bin/env bash
# The web UI and Swagger UI in a real browser: starts `authd serve` on a database and Redis prefix
# of its own, then runs tests/browser/ui.test.mjs and swagger.test.mjs (helpers in browser.mjs)
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
serve_authd browser "${PORT:-18098}"

status=0
(cd tests/browser && AUTHD_URL="$BASE" node --test --test-concurrency=1 ui.test.mjs swagger.test.mjs) || status=$?
if [ "$status" -ne 0 ]; then show_authd_log; fi
exit "$status"
