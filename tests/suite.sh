#!/usr/bin/env bash
# The test command (README.md): makes this machine able to run the suite (tests/prepare.sh
# says what it installs or starts, and only where it is missing), then runs it with
# `cargo nextest run --workspace`. Arguments go to nextest: `bash tests/suite.sh code_flow`
# runs the tests whose names contain `code_flow`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/prepare.sh
source tests/prepare.sh
printf '\n==> cargo nextest run --workspace %s\n' "$*"
exec cargo nextest run --workspace "$@"
