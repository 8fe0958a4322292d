#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png: the browser tests, photographing each page as they go.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCREENSHOTS=docs/screenshots exec bash tests/browser/run.sh
