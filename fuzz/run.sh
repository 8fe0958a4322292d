#!/usr/bin/env bash
# Fuzzes authd's parsers and verifiers with libFuzzer (cargo fuzz), each target for
# DURATION seconds (default 600), one after another, and prints a line per target:
# executions, coverage, corpus size and crashes found.
#
#   fuzz/run.sh                       # every target, 10 minutes each
#   DURATION=60 fuzz/run.sh jwt_verify
#
# cargo fuzz needs nightly compiler flags; this machine has stable Rust only, so the build runs
# with RUSTC_BOOTSTRAP=1. No sanitizer: authd is safe Rust, and what is looked for is panics,
# 5xx answers and wrong acceptances, which the targets assert. A crash leaves its input under
# fuzz/artifacts/<target>/; once fixed, the input goes to fuzz/regressions/<target>/, which
# every run replays first.
set -euo pipefail
cd "$(dirname "$0")"

DURATION=${DURATION:-600}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(jwt_verify dpop_proof pop_signature request_decoding)
fi
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cargo fuzz build --sanitizer none -O

mkdir -p logs
failed=0
for target in "${TARGETS[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target" "regressions/$target"
  log="logs/$target.log"
  echo "==> $target for ${DURATION}s (log: fuzz/$log)"
  status=0
  cargo fuzz run --sanitizer none -O "$target" "corpus/$target" "regressions/$target" -- \
    -max_total_time="$DURATION" -dict=dicts/jose.dict -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" >"$log" 2>&1 || status=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(echo "$last" | grep -oE 'cov: [0-9]+' || echo "cov: ?")
  ft=$(echo "$last" | grep -oE 'ft: [0-9]+' || echo "ft: ?")
  corpus=$(find "corpus/$target" -type f | wc -l)
  crashes=$(find "artifacts/$target" -type f | wc -l)
  echo "    $target: $runs executions in ${DURATION}s, $cov, $ft, corpus $corpus inputs, crashes $crashes (exit $status)"
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then failed=1; fi
done
exit "$failed"
