#!/usr/bin/env bash
# Daemon throughput with every fraud rule on (rates/fraud.toml and its
# high-risk list) against rules off (no fraud.toml), IDS on in both, on
# generated traffic with 10,000 customers.
#
#   benches/fraud.sh prepare WORK [FILES] [ROWS] [DAYS]
#       a 60k-prefix deck with 10,000 customers (rates-off/, and rates-on/
#       with the shipped fraud.toml and high-risk.csv), and FILES (default
#       20) CDR files of ROWS (default 100000) calls each, every file its own
#       seed, the calls spread over DAYS (default 1) days from 2026-11-01;
#   benches/fraud.sh run WORK on|off
#       one daemon on a fresh spool and state: every file renamed into
#       incoming/ at once, timed until the last one is archived; prints
#       "MODE: ROWS rows in S s = R rows/s" and appends it to WORK/results.
#
# "Now" is fixed to the end of the traffic's last day, so every call is on
# a day the rules judge. Compare with farm-bench (alternating runs, medians):
#   farm-bench -n 5 --timeout 900 --vs 'benches/fraud.sh run WORK off' -- benches/fraud.sh run WORK on
# BIN overrides the binary (default target/release/cdr-rater, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?prepare or run}
WORK=${2:?work folder}
BIN=${BIN:-target/release/cdr-rater}

if [ "$what" = prepare ]; then
  FILES=${3:-20}
  ROWS=${4:-100000}
  DAYS=${5:-1}
  cargo build --release --quiet
  mkdir -p "$WORK/cdrs"
  rm -rf "$WORK/rates-off" "$WORK/rates-on"
  "$BIN" generate deck --prefixes 60000 --customers 10000 --rates rates --out "$WORK/rates-off" >/dev/null
  cp -a "$WORK/rates-off" "$WORK/rates-on"
  cp rates/fraud.toml rates/high-risk.csv "$WORK/rates-on/"
  for i in $(seq 1 "$FILES"); do
    "$BIN" generate cdrs --rows "$ROWS" --seed "$i" --days "$DAYS" --rates "$WORK/rates-off" \
      --out "$WORK/cdrs/f$(printf %03d "$i").csv"
  done
  echo "$FILES files of $ROWS rows over $DAYS day(s) in $WORK/cdrs; rates-on/ and rates-off/ in $WORK"
  exit 0
fi

mode=${3:?on or off}
DAYS=$(cat "$WORK/days" 2>/dev/null || echo 1)
run=$(mktemp -d "$WORK/run-XXXXXX")
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$run"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$run/cdr-rater.toml" <<EOF
rates = "$(realpath "$WORK/rates-$mode")"
settle_ms = 100
[metrics]
listen = "127.0.0.1:$port"
EOF
mkdir -p "$run/spool/incoming" "$run/staging"
files=("$WORK"/cdrs/*.csv)
for f in "${files[@]}"; do ln "$f" "$run/staging/" 2>/dev/null || cp "$f" "$run/staging/"; done
rows=$(($(cat "${files[@]}" | wc -l) - ${#files[@]}))
CDR_RATER_NOW=2026-11-01T23:59:59Z "$BIN" run --allow-root --config "$run/cdr-rater.toml" 2>"$run/daemon.log" &
pid=$!
until curl -sf "127.0.0.1:$port/metrics" >/dev/null; do sleep 0.02; done
start=$(date +%s.%N)
for f in "${files[@]}"; do mv "$run/staging/$(basename "$f")" "$run/spool/incoming/"; done
until [ "$(ls "$run/spool/archive" 2>/dev/null | wc -l)" -eq "${#files[@]}" ]; do sleep 0.01; done
end=$(date +%s.%N)
line=$(awk -v m="$mode" -v r="$rows" -v a="$start" -v b="$end" \
  'BEGIN { printf "%s: %d rows in %.3f s = %.0f rows/s\n", m, r, b - a, r / (b - a) }')
echo "$line"
echo "$line" >>"$WORK/results"
