#!/usr/bin/env bash
# `rerate` of one large file against `rate` of the same file (SPEC §12.1
# target: re-rating runs at half or more of rating's throughput).
#
#   benches/rerate.sh prepare WORK [ROWS]
#       a spool whose daemon rated one generated file of ROWS (default
#       5000000) calls (archived, with its ledger record), on the shipped
#       tables; the same file kept as WORK/input/big.csv.
#   benches/rerate.sh rerate WORK     one `rerate --file big.csv` (by its ledger name; daemon stopped)
#   benches/rerate.sh rate WORK       one `rate input/big.csv` into WORK/out
#
# Compare with farm-bench (alternating runs, medians):
#   farm-bench -n 5 --timeout 900 --vs 'benches/rerate.sh rate WORK' -- benches/rerate.sh rerate WORK
# Each rerate supersedes the outputs before it (spool/superseded/ grows by
# one copy a run; `prepare` again to start over).
# BIN overrides the binary (default target/release/cdr-rater, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?prepare, rerate or rate}
WORK=${2:?work folder}
BIN=${BIN:-$PWD/target/release/cdr-rater}
NOW=2026-12-01T12:00:00Z
export CDR_RATER_NOW=$NOW

case "$what" in
prepare)
  ROWS=${3:-5000000}
  cargo build --release --quiet
  rm -rf "$WORK" && mkdir -p "$WORK/spool/incoming" "$WORK/staging"
  cp -a rates "$WORK/rates"
  printf 'settle_ms = 300\n[metrics]\nlisten = "127.0.0.1:19479"\n' >"$WORK/cdr-rater.toml"
  mkdir -p "$WORK/input"
  "$BIN" generate cdrs --rows "$ROWS" --seed 1 --rates rates --out "$WORK/input/big.csv"
  cd "$WORK"
  "$BIN" run --allow-root --config cdr-rater.toml 2>daemon.log &
  pid=$!
  sleep 1
  cp input/big.csv staging/big.csv && mv staging/big.csv spool/incoming/
  until [ -e spool/archive/big.csv ]; do sleep 0.2; done
  kill -TERM $pid && wait $pid || true
  echo "rated and archived $ROWS rows in $WORK"
  ;;
rerate)
  cd "$WORK" && exec "$BIN" rerate --config cdr-rater.toml --file big.csv
  ;;
rate)
  cd "$WORK" && rm -rf out && exec "$BIN" rate --config cdr-rater.toml --out out input/big.csv
  ;;
*)
  echo "unknown: $what" >&2
  exit 2
  ;;
esac
